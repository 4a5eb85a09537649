"""The alerts dashboard (from `alerts`) and the pipeline-health dashboard (from `pipeline`).

`alerts` holds one point per alert state change, tagged alert_id, rule, sensor,
kind, district, severity and state, with fields message, since, value, acked_by
and note. An alert's current state is the state of its latest point, read over
the last `ACTIVE_WINDOW` (31 days), not only the time range. `pipeline` holds the
ingester's own counters (since its start), gauges and per-interval rate and lag,
tagged by instance.
"""

from __future__ import annotations

from typing import Any

from grafana.builder.frame import annotation, dashboard
from grafana.builder.overview import RECENT_ALERTS, active_alert_counts
from grafana.builder.variables import (
    city_variable,
    district_variable,
    query_variable,
    sensor_variable,
)
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
ALERTS = (f'{district_filter()} AND {KIND} AND "sensor" =~ {regex("sensor")} '
          f'AND "severity" =~ {regex("severity")}')

SEVERITY_COLOURS = {"info": "blue", "low": "green", "medium": "yellow", "high": "orange",
                    "critical": "red"}
STATES = {"pending": "orange", "firing": "red", "acknowledged": "blue", "resolved": "green"}


def _text_mappings(colours: dict[str, str]) -> list[Json]:
    return [{"type": "value", "options": {
        name: {"text": name, "color": colour, "index": index}
        for index, (name, colour) in enumerate(colours.items())}}]


def alerts() -> Json:
    """Return the alerts dashboard."""
    current = (f'SELECT "since", "now" AS "state", "severity", "rule", "sensor", "kind", '
               f'"district", "message", "acked_by" FROM (SELECT last("since") AS "since", '
               '"state" AS "now", "severity", "rule", "sensor", "kind", "district", "message", '
               f'"acked_by" FROM "alerts" WHERE {RECENT_ALERTS} AND {ALERTS} GROUP BY "alert_id") '
               "WHERE \"now\" <> 'resolved'")
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
             [target(active_alert_counts(f'{district_filter()} AND {KIND} AND "severity" =~ '
                                         f'{regex("severity")}', '"severity"'),
                     alias="$tag_severity")],
             steps=thresholds("orange")),
        stat("Firing episodes in the time range", "Alerts that reached firing, by kind.",
             (12, 0, 12, 5), [target(f'SELECT count("since") FROM "alerts" WHERE $timeFilter '
                                     f"AND {ALERTS} AND \"state\" = 'firing' GROUP BY \"kind\"",
                                     alias="$tag_kind")], steps=thresholds("red")),
        table("Active alerts", "Each alert whose latest state is not resolved; `since` is "
              "when its episode began.", (0, 5, 24, 9),
              [target(current, table=True)],
              overrides=[state_cells, severity_cells, since], sort_by="since"),
        timeseries("State changes by state", "Alert state changes per interval.",
                   (0, 14, 24, 7), [target(f'SELECT count("since") FROM "alerts" WHERE '
                                           f'$timeFilter AND {ALERTS} {EVERY}, "state" '
                                           "fill(none)", alias="$tag_state")],
                   bars=True, minimum=0),
        table("State changes", "Every state change in the time range, newest first.",
              (0, 21, 24, 10), [target(
                  'SELECT "state", "severity", "rule", "sensor", "district", "message", '
                  f'"value", "acked_by", "note" FROM "alerts" WHERE $timeFilter AND {ALERTS} '
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
