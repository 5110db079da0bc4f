"""The closing overview of a multi-span run: one line per span, then the story."""

from typing import Dict, List, Optional

from span_runs import outcome as outcome_lib


def format_overview(outcomes: Dict[int, outcome_lib.SpanOutcome],
                    ran_now: List[int]) -> str:
  """`outcomes`: span -> outcome; spans in `ran_now` ran in this invocation."""
  lines = ['Spans of this data root, oldest first:',
           f'  {"span":>4}  {"run":<10}  what happened']
  for span in sorted(outcomes):
    when = 'this run' if span in ran_now else 'earlier'
    lines.append(f'  {span:>4}  {when:<10}  {outcomes[span].what_happened()}')
  closing = closing_note(outcomes)
  if closing:
    lines += ['', closing]
  return '\n'.join(lines)


def serving_after(outcomes: Dict[int, outcome_lib.SpanOutcome]) -> Optional[int]:
  """The span whose model the last promotion made stable, if any."""
  promoted = [span for span, o in outcomes.items()
              if o.rollout and o.rollout.get('decision') == 'promoted']
  return max(promoted) if promoted else None


def closing_note(outcomes: Dict[int, outcome_lib.SpanOutcome]) -> str:
  if not outcomes:
    return ''
  latest = outcomes[max(outcomes)]
  serving = serving_after(outcomes)
  serving_text = (f"span {serving}'s model is stable" if serving is not None
                  else 'no model serves yet')
  if latest.rejected_by == 'DataValidationGate':
    return (f'The newest span, {latest.span}, was stopped by the data gate: its data '
            f'differs from the last good span beyond the description\'s limits, so '
            f'nothing was trained on it and {serving_text}. That is the gate doing its '
            f'job; its report says what moved.')
  if latest.rejected_by:
    return (f'The newest span, {latest.span}, was refused by {latest.rejected_by}: fix '
            f'the rows it names and run it again with --span {latest.span}. '
            f'{serving_text[0].upper() + serving_text[1:]}.')
  if latest.decided and not latest.blessed:
    return (f'The model of the newest span, {latest.span}, was not blessed, so it was '
            f'not pushed; {serving_text}.')
  return f'After span {latest.span}: {serving_text}.' if latest.decided else ''
