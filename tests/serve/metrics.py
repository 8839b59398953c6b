"""Reads /metrics with Prometheus' own Python parser (prometheus_client's
text_string_to_metric_families, which raises on any line the text format does not
allow) and prints the families as JSON: name, type, help and samples."""

import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

text = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode("utf-8")
families = []
for f in text_string_to_metric_families(text):
    samples = [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]
    families.append({"name": f.name, "type": f.type, "help": f.documentation, "samples": samples})
print(json.dumps(families))
