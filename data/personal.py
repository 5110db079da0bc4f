"""Personal data of the applicants: a name and an e-mail address per row.

Drawn from their own random stream (sampling.STREAM_PII), so adding them left
every other column's values byte-identical for the same seed. Nothing in the
process depends on them: they exist so that the pipeline's handling of
personal data (the description's `pii` section) is exercised by the default
run. The e-mail embeds the row's number, so every value is unique and a test
can search written files for it.
"""

import numpy as np
import pandas as pd

from data import process

FIRST_NAMES = ('Alex', 'Maria', 'Jan', 'Li', 'Amina', 'Noah', 'Sofia', 'Omar',
               'Ines', 'Kenji', 'Zoe', 'Ravi', 'Lena', 'Mateo', 'Aisha', 'Tom')
LAST_NAMES = ('Smith', 'Garcia', 'Novak', 'Chen', 'Okafor', 'Muller', 'Rossi',
              'Haddad', 'Silva', 'Tanaka', 'Dubois', 'Patel', 'Berg', 'Lopez',
              'Nowak', 'Kim')


def with_personal_data(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
  """`frame` with applicant_name and email added, columns in process.COLUMNS order."""
  n = len(frame)
  first = np.array(FIRST_NAMES, dtype=object)[rng.integers(0, len(FIRST_NAMES), n)]
  last = np.array(LAST_NAMES, dtype=object)[rng.integers(0, len(LAST_NAMES), n)]
  serial = frame['application_id'].str.replace('-', '', regex=False).str.lower()
  out = frame.copy()
  out['applicant_name'] = first + ' ' + last
  out['email'] = (pd.Series(first).str.lower() + '.' + pd.Series(last).str.lower() +
                  '.' + serial.to_numpy() + '@example.com').to_numpy()
  return out[list(process.COLUMNS)]
