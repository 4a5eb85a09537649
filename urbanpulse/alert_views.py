"""What the ingester writes of its alerts for the alerts dashboard, and what panels read.

In `alerts` every alert and state is a series of its own, so a chart or table
over it walks every alert the city ever raised, whatever it shows. Beside it
the ingester writes three measurements whose series follow the districts and
kinds (docs/contract.md):

- `CHANGES` (tags `district`, `kind`, `severity`, `state`): `changes`, the
  alert changes of each minute (`ingest.alerts.changes`);
- `LOG` (tags `district`, `slot`): every change with the fields a table row
  shows, at its place among its district's changes of that millisecond, at
  most `LOG_SLOTS` (`ingest.alerts.lists`);
- `OPEN` (tags `district`, `kind`, `rank`): the alerts open now, at most
  `OPEN_RANKS` per district and kind, most severe then longest open first; a
  rank is written when what holds it changes, once with `alert_id` "" when it
  falls vacant, and every `OPEN_REFRESH_MS` again (`ingest.alerts.lists`).
"""

from __future__ import annotations

from typing import Final

CHANGES: Final = "alerts_district_1m"
LOG: Final = "alerts_log"
LOG_SLOTS: Final = 256
OPEN: Final = "alerts_open"
OPEN_RANKS: Final = 100
OPEN_REFRESH_MS: Final = 300_000
