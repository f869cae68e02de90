"""Run the plugin's handler once, as the Canvas plugin runner would, for the end-to-end test.

Usage: python3 run_handler.py SCENARIO.json, where the scenario is
{"event": "TASK_CREATED", "target": "<task id>", "secrets": {...}, "task": {<see
harness.task_from>}}; for the retry task, {"event": "CRON", "target": "<ISO date-time>",
"secrets": {...}}. The handler's log lines go to stderr. The plugin cache lives in the file
that CANVAS_STANDIN_CACHE names, so that runs share it.
"""

import json
import logging
import sys

import harness


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        scenario = json.load(f)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
    harness.load(tasks=[harness.task_from(scenario["task"])] if scenario.get("task") else [])
    effects = harness.run(scenario["event"], scenario["target"], scenario["secrets"])
    print(json.dumps({"accepted": effects is not None, "effects": len(effects or [])}))


if __name__ == "__main__":
    main()
