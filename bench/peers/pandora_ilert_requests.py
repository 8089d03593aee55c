#!/usr/bin/env python3
"""Stand-in for Pandora FMS's own ilert connector (pandora_plugins/message_app_connectors/ilert/
pandora_ilert.py in pandorafms/pandorafms), written for this benchmark because that script is
not fetched here. It does what that connector does on each alert, at the same cost: starts
Python, imports `requests` (plus json/argparse/datetime/signal), parses the same options, and
POSTs the same JSON body to ilert's Pandora FMS endpoint once. The only change is the base URL,
taken from PEER_ILERT_URL so that it reaches the local fake ilert.

The real connector ships as a PyInstaller binary, which also unpacks itself on every run: this
stand-in is, if anything, faster than the original.
"""

import argparse
import datetime
import json
import os
import signal
import sys

import requests


def main():
    parser = argparse.ArgumentParser(description="ilert connector (benchmark stand-in)")
    parser.add_argument("-a", "--api_key", required=True)
    parser.add_argument("-t", "--event_type", required=True)
    parser.add_argument("-k", "--event_key", required=True)
    parser.add_argument("-T", "--title", required=True)
    parser.add_argument("-d", "--description", default="")
    parser.add_argument("-A", "--agent_name", default="")
    parser.add_argument("-p", "--priority", default="")
    parser.add_argument("-m", "--module_name", default="")
    parser.add_argument("-D", "--module_data", default="")
    parser.add_argument("-C", "--created_date", default=str(datetime.datetime.now()))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    base = os.environ.get("PEER_ILERT_URL", "https://api.ilert.com")
    body = {
        "eventType": args.event_type,
        "title": args.title,
        "description": args.description,
        "incidentKey": args.event_key,
        "details": {
            "agentName": args.agent_name,
            "createdAt": args.created_date,
            "priority": args.priority,
            "moduleName": args.module_name,
            "moduleData": args.module_data,
        },
    }
    try:
        resp = requests.post(
            f"{base}/api/v1/events/pandorafms/{args.api_key}",
            data=json.dumps(body),
            headers={"Accept": "application/json"},
        )
    except requests.RequestException as e:
        print(f"error posting to ilert: {e}", file=sys.stderr)
        sys.exit(0)
    print(f"http_code: {resp.status_code}", file=sys.stderr)


if __name__ == "__main__":
    main()
