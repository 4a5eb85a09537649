"""The alerts dashboard and the pipeline-health dashboard (from `pipeline`).

`alerts` holds one point per alert state change, a series per alert and state;
the alerts dashboard's panels read what the ingester writes beside it, whose
series follow the districts and kinds (`urbanpulse.alert_views`): the counts of
active alerts (`alerts_active`), the changes per minute (`alerts_district_1m`),
the open alerts by rank (`alerts_open`) and the log of changes (`alerts_log`).
Its kind, severity and sensor variables list the tag values of `alerts`.
`pipeline` holds the ingester's own counters (since its start), gauges and
per-interval rate and lag, tagged by instance.
"""

from __future__ import annotations

from typing import Any

from grafana.builder.frame import annotation, dashboard
from grafana.builder.overview import COUNTS_WINDOW, active_alert_counts
from grafana.builder.variables import (
    city_variable,
    district_variable,
    query_variable,
    sensor_variable,
)
from urbanpulse.alert_views import CHANGES, LOG, OPEN, OPEN_RANKS
from urbanpulse.kinds.panels import (
    EVERY,
    Json,
    colour_cells,
    district_filter,
    regex,
    stat,
    table,
    target,
    thresholds,
    timeseries,
)

KIND = f'"kind" =~ {regex("kind")}'
COUNTED = f'{district_filter()} AND {KIND} AND "severity" =~ {regex("severity")}'
"""The choices the counts of alerts follow: they are not kept per sensor."""
ALERTS = f'{COUNTED} AND "sensor" =~ {regex("sensor")}'
NEWEST = f"time > ${{__to}}ms - {COUNTS_WINDOW} AND time <= ${{__to}}ms"
"""Within the last `COUNTS_WINDOW` of the range: where each rank's newest point is."""

SEVERITY_COLOURS = {"info": "blue", "low": "green", "medium": "yellow", "high": "orange",
                    "critical": "red"}
STATES = {"pending": "orange", "firing": "red", "acknowledged": "blue", "resolved": "green"}


def _text_mappings(colours: dict[str, str]) -> list[Json]:
    return [{"type": "value", "options": {
        name: {"text": name, "color": colour, "index": index}
        for index, (name, colour) in enumerate(colours.items())}}]


def alerts() -> Json:
    """Return the alerts dashboard."""
    ranks = ('SELECT last("alert_id") AS "alert_id", "since", "state", "severity", "rule", '
             f'"sensor", "kind", "district", "message", "acked_by" FROM "{OPEN}" WHERE '
             f'{NEWEST} AND {district_filter()} AND {KIND} GROUP BY "district", "kind", "rank"')
    current = ('SELECT "since", "state", "severity", "rule", "sensor", "kind", "district", '
               f'"message", "acked_by" FROM ({ranks}) WHERE "alert_id" <> \'\' AND '
               f'"severity" =~ {regex("severity")} AND "sensor" =~ {regex("sensor")}')
    variables = [
        city_variable(), district_variable(),
        query_variable("kind", "Kind", 'SHOW TAG VALUES FROM "alerts" WITH KEY = "kind"'),
        sensor_variable("alerts", KIND),
        query_variable("severity", "Severity",
                       'SHOW TAG VALUES FROM "alerts" WITH KEY = "severity"'),
    ]
    state_cells = colour_cells("state", mappings=_text_mappings(STATES))
    severity_cells = colour_cells("severity", mappings=_text_mappings(SEVERITY_COLOURS))
    since = {"matcher": {"id": "byName", "options": "since"},
             "properties": [{"id": "unit", "value": "dateTimeAsIso"}]}
    panels = [
        stat("Active alerts by severity", "Alerts pending, firing or acknowledged now, as "
             "the ingesters last counted them, in the chosen districts, kinds and severities "
             "(the counts are not kept per sensor).", (0, 0, 12, 5),
             [target(active_alert_counts(COUNTED, '"severity"'), alias="$tag_severity")],
             steps=thresholds("orange")),
        stat("Firing episodes in the time range", "Alerts that reached firing, by kind, in "
             "the chosen districts, kinds and severities (the counts are not kept per "
             "sensor).", (12, 0, 12, 5),
             [target(f'SELECT sum("changes") FROM "{CHANGES}" WHERE $timeFilter AND {COUNTED} '
                     "AND \"state\" = 'firing' GROUP BY \"kind\"", alias="$tag_kind")],
             steps=thresholds("red")),
        table("Active alerts", "The alerts pending, firing or acknowledged at the end of the "
              "time range, as the ingesters last listed them: most severe first, then the "
              f"longest open, at most {OPEN_RANKS} of each district and kind (the counts "
              "above are complete); `since` is when the episode began.", (0, 5, 24, 9),
              [target(current, table=True)],
              overrides=[state_cells, severity_cells, since], sort_by="since"),
        timeseries("State changes by state", "Alert state changes per interval, in the "
                   "chosen districts, kinds and severities (the counts are not kept per "
                   "sensor).", (0, 14, 24, 7),
                   [target(f'SELECT sum("changes") FROM "{CHANGES}" WHERE $timeFilter AND '
                           f'{COUNTED} {EVERY}, "state" fill(none)', alias="$tag_state")],
                   bars=True, minimum=0, interval="1m"),
        table("State changes", "The state changes in the time range, newest first, at "
              "most 1,000, from the ingesters' log of them.", (0, 21, 24, 10), [target(
                  'SELECT "state", "severity", "rule", "sensor", "district", "message", '
                  f'"value", "acked_by", "note" FROM "{LOG}" WHERE $timeFilter AND {ALERTS} '
                  "ORDER BY time DESC LIMIT 1000", table=True)],
              overrides=[state_cells, severity_cells]),
    ]
    return dashboard("urbanpulse-alerts", "Alerts", "Alert states and their history, from the "
                     "`alerts` measurement the ingester writes.", panels, variables, [])


def pipeline() -> Json:
    """Return the pipeline-health dashboard of the ingester's self-metrics."""
    where = f'WHERE $timeFilter AND "instance" =~ {regex("instance")}'

    def series(title: str, description: str, grid: tuple[int, int, int, int], select: str,
               **options: Any) -> Json:
        return timeseries(title, description, grid, [target(
            f'SELECT {select} FROM "pipeline" {where} {EVERY}, "instance" fill(none)',
            alias="$col $tag_instance")], interval="10s", **options)

    def latest(title: str, description: str, grid: tuple[int, int, int, int], field: str,
               **options: Any) -> Json:
        return stat(title, description, grid, [target(
            f'SELECT last("{field}") FROM "pipeline" {where} GROUP BY "instance"',
            alias="$tag_instance")], **options)

    panels = [
        latest("Readings per second", "Readings written per second in the last interval.",
               (0, 0, 6, 4), "readings_per_s", steps=thresholds("blue")),
        latest("Lag p99", "99th percentile of device time to InfluxDB's 204 in the last "
               "interval with writes (a backfill shows its age).", (6, 0, 6, 4), "lag_p99_ms",
               unit="ms", steps=thresholds("green", (5_000, "orange"), (60_000, "red"))),
        latest("Rejected since start", "Readings dead-lettered since the instance started.",
               (12, 0, 6, 4), "rejected", steps=thresholds("green", (1, "orange"))),
        latest("Awaiting acknowledgement", "Messages received, not yet written and acked.",
               (18, 0, 6, 4), "pending", steps=thresholds("green", (10_000, "orange"))),
        series("Readings written per second", "Per metrics interval.", (0, 4, 12, 8),
               'mean("readings_per_s") AS "readings/s"', minimum=0),
        series("Lag from device time to InfluxDB", "Median and 99th percentile per interval.",
               (12, 4, 12, 8), 'max("lag_p50_ms") AS "p50", max("lag_p99_ms") AS "p99"',
               unit="ms", minimum=0),
        series("Rejections since start by reason", "Dead-lettered readings by reason "
               "(counters restart with the instance).", (0, 12, 12, 8), "max(/^rejected_/)",
               minimum=0),
        series("Received, written and births since start", "Counters of the instance.",
               (12, 12, 12, 8), 'max("received") AS "received", max("written") AS "written", '
               'max("births") AS "births"', minimum=0),
        series("Backlog", "Messages awaiting acknowledgement and dead letters or status "
               "waiting for the broker.", (0, 20, 12, 8),
               'max("pending") AS "pending", max("outbox_queued") AS "outbox"', minimum=0),
        series("Writes to InfluxDB since start", "Write requests and retries.",
               (12, 20, 12, 8), 'max("write_requests") AS "requests", max("write_retries") '
               'AS "retries", max("batches") AS "batches"', minimum=0),
    ]
    starts = annotation("Ingester starts", 'SELECT "started", "instance" FROM "pipeline" '
                        f'{where} AND "started" = true', colour="blue",
                        text_column="instance", tags_column="instance")
    variables = [query_variable("instance", "Instance",
                                'SHOW TAG VALUES FROM "pipeline" WITH KEY = "instance"')]
    return dashboard("urbanpulse-pipeline", "Pipeline health", "The ingester's own metrics "
                     "(`pipeline`): throughput, lag, rejections, backlog and writes.", panels,
                     variables, [starts], time_from="now-1h")
