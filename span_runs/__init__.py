"""Which spans a pipeline has processed, and what each run of a span decided.

  outcome   SpanOutcome: one run of one span, read back from ML Metadata
            (data rejected or blocked by the gate, blessed, pushed, the
            rollout's decision), and whether it reached a decision at all
  history   processed(metadata_path, pipeline_name, data_root): the latest
            decided run of every span of that data root; pending(...): the
            spans on disk still to run, in order
  table     the closing overview of several spans, one line each

local_runner.py uses it to run every span not processed yet, in order.
Layer 7: reads ML Metadata (metadata/) and the pipeline's notion of a data
rejection (pipeline.validation_outcome); runs nothing.
"""
