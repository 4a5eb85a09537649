"""The incidents dashboard: the operations centre's open incidents, by district and stage.

It reads the ingester's own record (docs/incidents.md, "Record"): `incidents`,
one point per incident state change holding the whole state (tags
`incident_id`, `district`, `category`, `stage`), `incident_audit`, one point
per action (tags `incident_id`, `district`, `category`, `action`, `stage`; a
transition's `minutes` in the stage it left), and the overrun alerts in
`alerts` (kind `incident`). An incident's current state is its latest point
within `ACTIVE_WINDOW`, as for alerts.
"""

from __future__ import annotations

from grafana.builder.frame import annotation, dashboard
from grafana.builder.overview import RECENT_ALERTS
from grafana.builder.variables import city_variable, district_variable, query_variable
from urbanpulse.incidents import (
    AUDIT_MEASUREMENT,
    INCIDENT_KIND,
    INCIDENTS_MEASUREMENT,
    OPEN_STAGES,
    STAGE_NAMES_ZH,
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
from urbanpulse.messages import IncidentStage

PLACES = f'{district_filter()} AND "category" =~ {regex("category")}'
"""The chosen city, districts and departments."""
STAGE_COLOURS: dict[IncidentStage, str] = {"accepted": "orange", "dispatched": "blue",
                                           "handling": "purple", "closed": "green"}
CURRENT = ('"street", "category", "stage_since", "due", "overrun", "severity", "active_alerts", '
           '"alerts_total", "cause"')
"""The fields the table of open incidents shows of each incident's latest state."""


def _latest(fields: str) -> str:
    """Return a subquery: each incident's latest state (`now` its stage) with `fields`."""
    return (f'SELECT last("opened") AS "opened", "stage" AS "now", {fields} '
            f'FROM "{INCIDENTS_MEASUREMENT}" WHERE {RECENT_ALERTS} AND {PLACES} '
            'GROUP BY "incident_id", "district"')


def _open_in(stage: str) -> Json:
    """Return a target counting the open incidents in `stage`, per district."""
    return target(f'SELECT count("opened") AS "{stage}" FROM ({_latest("overrun")}) '
                  f"WHERE \"now\" = '{stage}' GROUP BY \"district\"", ref=stage[0].upper(),
                  table=True)


def _counts(panel: Json) -> Json:
    """Return a panel of counts that shows 0 where its query finds nothing to count."""
    panel["fieldConfig"]["defaults"]["noValue"] = "0"
    return panel


def _stage_mappings() -> list[Json]:
    return [{"type": "value", "options": {
        stage: {"text": f"{stage} {STAGE_NAMES_ZH[stage]}", "color": colour, "index": index}
        for index, (stage, colour) in enumerate(STAGE_COLOURS.items())}}]


def incidents() -> Json:
    """Return the incidents dashboard."""

    def every_open(stage: str) -> str:
        return f'SELECT count("opened") FROM ({_latest("overrun")}) WHERE "now" = \'{stage}\''

    overrun = (f'SELECT count("opened") AS "overrun" FROM ({_latest("overrun")}) '
               "WHERE \"now\" <> 'closed' AND \"overrun\" = true")
    listed = ('SELECT "opened", "now" AS "stage", "district", "street", "category", '
              '"stage_since", "due", "overrun", "severity", "active_alerts", "alerts_total", '
              f'"cause" FROM ({_latest(CURRENT)}) WHERE "now" <> \'closed\'')
    overrun_alerts = (f'SELECT count("since") FROM "alerts" WHERE $timeFilter AND '
                      f"\"kind\" = '{INCIDENT_KIND}' AND \"state\" = 'firing' AND "
                      f'{district_filter()} {EVERY}, "rule" fill(none)')
    in_stage = (f'SELECT mean("minutes") * 60 AS "mean", max("minutes") * 60 AS "longest" '
                f'FROM "{AUDIT_MEASUREMENT}" WHERE $timeFilter AND "action" = \'transition\' '
                f'AND {PLACES} GROUP BY "stage"')
    opened = (f'SELECT count("opened") FROM "{INCIDENTS_MEASUREMENT}" WHERE $timeFilter AND '
              f"\"change\" = 'opened' AND {PLACES} {EVERY}, \"category\" fill(none)")
    trail = ('SELECT "by", "action", "stage", "to", "detail", "note", "incident_id", '
             f'"district" FROM "{AUDIT_MEASUREMENT}" WHERE $timeFilter AND {PLACES} '
             "ORDER BY time DESC LIMIT 500")
    stage_cells = colour_cells("stage", mappings=_stage_mappings())
    dates = [{"matcher": {"id": "byName", "options": name},
              "properties": [{"id": "unit", "value": unit}]}
             for name, unit in (("opened", "dateTimeAsIso"), ("stage_since", "dateTimeFromNow"),
                                ("due", "dateTimeAsIso"))]
    panels = [
        stat("Open incidents by stage", "Incidents whose latest state is accepted (受理), "
             "dispatched (分派) or handling (处置).", (0, 0, 12, 5),
             [target(every_open(stage), ref=stage[0].upper(), alias=stage)
              for stage in OPEN_STAGES], steps=thresholds("blue")),
        stat("Stages overrun now", "Open incidents whose current stage is past its time "
             "limit (URBANPULSE_INGEST_INCIDENT_*_LIMIT_S).", (12, 0, 12, 5),
             [target(overrun)], steps=thresholds("green", (1, "red"))),
        _counts(table("Open incidents by district and stage", "How many open incidents each "
                      "district has in each stage.", (0, 5, 12, 8),
                      [_open_in(stage) for stage in OPEN_STAGES])),
        stat("Time in each stage", "Mean and longest time an incident spent in a stage "
             "before an operator moved it on, over the transitions in the time range.",
             (12, 5, 12, 8), [target(in_stage, alias="$col $tag_stage")], unit="s",
             steps=thresholds("blue")),
        table("Open incidents", "Every open incident, newest first: where, which department, "
              "how long in its stage (`stage_since`), when it overruns (`due`).",
              (0, 13, 24, 9), [target(listed, table=True)],
              overrides=[stage_cells, *dates], sort_by="opened"),
        timeseries("Stage overruns", "Overrun alerts fired per interval, by stage.",
                   (0, 22, 12, 7), [target(overrun_alerts, alias="$tag_rule")], bars=True,
                   minimum=0),
        timeseries("Incidents opened", "Incidents opened per interval, by department.",
                   (12, 22, 12, 7), [target(opened, alias="$tag_category")], bars=True,
                   minimum=0),
        table("Audit trail", "Who did what and when: the platform's own actions (by "
              "urbanpulse) and the operators' transitions with their notes; newest first.",
              (0, 29, 24, 10), [target(trail, table=True)]),
    ]
    variables = [city_variable(), district_variable(),
                 query_variable("category", "Department",
                                f'SHOW TAG VALUES FROM "{INCIDENTS_MEASUREMENT}" WITH KEY = '
                                '"category"')]
    transitions = annotation(
        "Transitions", f'SELECT "detail", "by", "incident_id" FROM "{AUDIT_MEASUREMENT}" '
        f"WHERE $timeFilter AND \"action\" = 'transition' AND {PLACES}", colour="blue",
        text_column="detail", tags_column="by,incident_id")
    return dashboard("urbanpulse-incidents", "Incidents", "The operations centre's incidents "
                     "(事件): open ones by district and stage, overruns, time in stage and "
                     "the audit trail, from the ingester's `incidents` and `incident_audit`.",
                     panels, variables, [transitions])
