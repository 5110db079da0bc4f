"""Console output of long commands: a few readable lines, the full logs in a file.

TensorFlow, Beam, absl and TFX write hundreds of lines per pipeline run, many
of them harmless warnings marked as errors. `capture()` sends all of it
(Python logging, print, and what native code writes to file descriptors 1
and 2, including child processes) to a log file, and gives the command
console streams for its own lines. `ComponentProgress` turns TFX's
"Component X is running / finished" log records into one line per component.

  with console.capture(console.log_path(work_dir), verbose=args.verbose) as con:
    progress = console.ComponentProgress(con)
    with progress:
      LocalDagRunner().run(pipeline)
    print('summary', file=con.out)

`hide_harmless_stderr()` is the light version for short commands whose
output is their result: known-harmless lines (TensorFlow's GPU probing) are
dropped from descriptor 2, everything else passes.

Layer 1: imports nothing of ours, so the model server, the monitor and every
command can use it.
"""

from console.capture import Console, capture, log_path
from console.harmless import HARMLESS, is_harmless
from console.progress import ComponentProgress
from console.quiet import hide_harmless_stderr

__all__ = ['Console', 'capture', 'log_path', 'HARMLESS', 'is_harmless', 'ComponentProgress',
           'hide_harmless_stderr']
