"""What one simulated month did, what it should have done, and whether they agree."""

import dataclasses
from typing import Dict, List, Optional

from loop import plan as plan_lib


@dataclasses.dataclass
class MonthResult:
  month: int
  story: str
  expected: str
  decision: str = ''
  alarm: Optional[str] = None          # quiet | alarm | None (no labels this month)
  expected_alarm: Optional[str] = None
  notes: List[str] = dataclasses.field(default_factory=list)
  lineage: List[str] = dataclasses.field(default_factory=list)
  live: Dict[str, dict] = dataclasses.field(default_factory=dict)   # version -> figures
  slice_gap: Optional[float] = None
  gap_before: Optional[float] = None
  expect_gap_narrows: bool = False
  live_before: Optional[float] = None   # last month's live accuracy of what served
  expect_live_improves: bool = False
  seconds: float = 0.0

  @property
  def live_accuracy(self) -> Optional[float]:
    """Live accuracy of the version that served most of the labelled traffic."""
    served = [f for f in self.live.values() if f.get('accuracy') is not None]
    if not served:
      return None
    return float(max(served, key=lambda f: f.get('labelled') or 0)['accuracy'])

  @property
  def live_improved(self) -> Optional[bool]:
    if self.live_accuracy is None or self.live_before is None:
      return None
    return self.live_accuracy > self.live_before

  @property
  def gap_narrowed(self) -> Optional[bool]:
    if self.slice_gap is None or self.gap_before is None:
      return None
    return self.slice_gap < self.gap_before

  @property
  def agrees(self) -> bool:
    ok = self.decision == self.expected
    if self.expected_alarm is not None:
      ok = ok and self.alarm == self.expected_alarm
    if self.expect_gap_narrows:
      ok = ok and bool(self.gap_narrowed)
    if self.expect_live_improves:
      ok = ok and bool(self.live_improved)
    return ok

  def did(self) -> str:
    parts = []
    if self.alarm is not None:
      parts.append(f'live quality: {self.alarm.upper() if self.alarm == "alarm" else "quiet"}')
    parts += self.notes
    parts.append(self.decision)
    return '; '.join(p for p in parts if p)

  def should(self) -> str:
    parts = []
    if self.expected_alarm is not None:
      parts.append('alarm' if self.expected_alarm == plan_lib.ALARM else 'no alarm')
    if self.expect_live_improves:
      parts.append('live accuracy above last month\'s')
    if self.expect_gap_narrows:
      parts.append('the slice\'s gap to human level narrows')
    parts.append(self.expected)
    return '; '.join(parts)

  def to_json(self) -> dict:
    d = dataclasses.asdict(self)
    d.update(did=self.did(), should=self.should(), agrees=self.agrees,
             gap_narrowed=self.gap_narrowed, live_accuracy=self.live_accuracy,
             live_improved=self.live_improved)
    return d
