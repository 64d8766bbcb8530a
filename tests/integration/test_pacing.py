"""Issue 20 against the sandbox: a boot is reported from Nova's own timestamps (whole seconds)
kept within what the polls saw, so it stays within a second of the truth however sparse the
polls; and once the state directory remembers the site, the polls gather around when boot,
report and deletion came before: fewer requests for the same precision."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from probes import drivers
from probes.config.sources import build, from_sites_file
from probes.deadline import Deadline
from probes.runner.custody import make
from probes.runner.lifecycle import LifecycleRunner
from probes.runner.result import Outcome
from probes.sandbox import Sandbox
from tests.conftest import make_config


def test_boot_from_the_clouds_clock_and_polls_paced_by_the_sites_history(tmp_path: Path) -> None:
    config = make_config(delete_delay=0.0, faults={"latency": {"create": 0.5, "boot": 1.5,
                                                               "gone": 0.7}})
    with Sandbox(config) as sb:
        site = build([("sites file", from_sites_file(sb.sites_yaml, "sandbox", None))])
        custody = make("plugin", "pacing.example.org", tmp_path / "state", os.environ)
        shows, errors = [], []
        for _ in range(4):
            since = sb.request_log()[-1].seq if sb.request_log() else 0
            result = LifecycleRunner(site, custody, Deadline(60), Deadline(70),
                                     drivers.create).run()
            assert [p.name for p in result.phases if p.outcome != Outcome.PASSED] == []
            truth = sb.server_times(result.server_id or "")
            assert truth.launched is not None
            boot = result.phase("boot")
            assert boot.data["cloud_seconds"] == boot.duration  # the cloud's evidence
            errors.append(abs((boot.duration or 0) - (truth.launched - truth.created)))
            shows.append(Counter(e.operation for e in sb.request_log(since))["show"])
        assert max(errors) <= 1.0, errors
        # cold: looks at once, 0.1 s, 0.3 s, ... ; warm: around 1 s after the create's
        # answer (ACTIVE) and 0.7 s after the delete (404)
        assert max(shows[1:]) < shows[0] and min(shows[1:]) <= shows[0] - 3, shows
    assert (tmp_path / "state" / "pace").is_dir()
