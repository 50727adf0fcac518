#!/usr/bin/env python3
"""Runs one Autobahn TestSuite set of scripts/conformance.conf with kosoku and scores it.

  conformance_runner.py plan CONF [SET...]
      one line a set (the ones named, or else every set without `default = no`, in file
      order): the set's name, then its wsbridge arguments, separated by tabs
  conformance_runner.py list CONF
      each set with its server arguments and the cases it selects
  conformance_runner.py run CONF SET URL REPORT_DIR TIMEOUT_SECONDS
      runs the set's cases against URL, writes the HTML/JSON report to REPORT_DIR (replaced),
      prints what did not pass and last the line `autobahn: N passed, M failed`

A case passes when its behaviour and its close behaviour are each OK, NON-STRICT or
INFORMATIONAL (SPEC §6). Exit status: 0 every case passed; 1 a case did not pass; 2 the
set could not run (bad configuration, timeout, missing results).

`plan` needs only the standard library; `list` and `run` need kosoku (the venv that
scripts/conformance installs).
"""
import asyncio
import collections
import configparser
import re
import shlex
import sys
import time

PASSING = ("OK", "NON-STRICT", "INFORMATIONAL")


class ConfigError(Exception):
    """A problem in the configuration file or the command line, for people to read."""


def load_sets(path):
    """The sets of the configuration file, in file order: name -> section."""
    parser = configparser.ConfigParser(interpolation=None, comment_prefixes=("#",),
                                       inline_comment_prefixes=None)
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except (OSError, configparser.Error) as e:
        raise ConfigError("cannot read %s: %s" % (path, e))
    sets = {}
    for name in parser.sections():
        section = parser[name]
        unknown = set(section) - {"server", "cases", "exclude", "default"}
        if unknown:
            raise ConfigError("set [%s]: unknown keys %s" % (name, ", ".join(sorted(unknown))))
        if not section.get("server", "").strip() or not section.get("cases", "").strip():
            raise ConfigError("set [%s] needs both server and cases" % name)
        if section.get("default", "yes") not in ("yes", "no"):
            raise ConfigError("set [%s]: default is yes or no" % name)
        sets[name] = section
    if not sets:
        raise ConfigError("%s defines no set" % path)
    return sets


def chosen_sets(sets, names):
    for name in names:
        if name not in sets:
            raise ConfigError("no set %r (sets: %s)" % (name, " ".join(sets)))
    return names or [name for name, section in sets.items() if section.get("default", "yes") == "yes"]


def case_key(case_id):
    return [int(part) for part in case_id.split(".")]


def matching(pattern, all_ids):
    """The ids a pattern names: '*' is any text and the match starts at the id's beginning,
    as in Autobahn's own case selection; a pattern without '*' is one exact id."""
    if "*" in pattern:
        regex = re.compile(re.escape(pattern).replace(r"\*", ".*"))
        return {case_id for case_id in all_ids if regex.match(case_id)}
    return {pattern} & set(all_ids)


def select(section, all_ids):
    """The set's case ids in suite order; every pattern must name at least one case and
    every exclude must remove at least one."""
    included = set()
    for pattern in section["cases"].split():
        hits = matching(pattern, all_ids)
        if not hits:
            raise ConfigError("set [%s]: %r matches no case" % (section.name, pattern))
        included |= hits
    for pattern in section.get("exclude", "").split():
        hits = matching(pattern, all_ids) & included
        if not hits:
            raise ConfigError("set [%s]: exclude %r removes no case" % (section.name, pattern))
        included -= hits
    return sorted(included, key=case_key)


def all_case_ids():
    import kosoku.cases
    return sorted(kosoku.cases.CASES, key=case_key)


def plan(conf, names):
    sets = load_sets(conf)
    for name in chosen_sets(sets, names):
        print("\t".join([name] + shlex.split(sets[name]["server"])))
    return 0


def list_sets(conf):
    sets = load_sets(conf)
    ids = all_case_ids()
    for name, section in sets.items():
        selected = select(section, ids)
        when = "" if section.get("default", "yes") == "yes" else " (only when named)"
        print("%s: wsbridge %s, %d cases%s" % (name, section["server"].strip(), len(selected), when))
        print("  cases: %s" % " ".join(section["cases"].split()))
        if section.get("exclude", "").strip():
            print("  exclude: %s" % " ".join(section["exclude"].split()))
    return 0


def ascii_line(text, limit=160):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def accept_uncompressed_text_in_compression_cases():
    """kosoku 0.1.0 hands the compression cases (12.*, 13.*) a text message that arrived
    uncompressed (RSV1 clear, as RFC 7692 §6 lets a server send any message) as str, and their
    onMessage hashes it as it is: "Strings must be encoded before hashing", an ERROR whatever the
    server sent. Autobahn's own Python 2 runner handed them bytes either way. This gives them the
    message's bytes (a binary message comes as one character per byte), as Autobahn did; what they check (type, length, SHA-1 of the echo) is
    unchanged."""
    import kosoku.cases

    for case_id, case in kosoku.cases.CASES.items():
        if not case_id.startswith(("12.", "13.")) or getattr(case.onMessage, "_takes_text", False):
            continue

        def on_message(self, msg, binary, _original=case.onMessage):
            if isinstance(msg, str):
                msg = msg.encode("latin-1" if binary else "utf-8")
            return _original(self, msg, binary)

        on_message._takes_text = True
        case.onMessage = on_message


async def run_cases(url, ids, timeout_seconds):
    from kosoku import FailureError, run_fuzzingclient
    accept_uncompressed_text_in_compression_cases()
    try:
        return await asyncio.wait_for(run_fuzzingclient(url, ids, None, concurrency=1),
                                      timeout_seconds)
    except FailureError as failure:
        # kosoku raises when any case did not pass; the exception carries every result.
        return failure.results


def run(conf, name, url, report_dir, timeout_seconds):
    import shutil

    import kosoku
    from kosoku._report import write_reports

    sets = load_sets(conf)
    chosen_sets(sets, [name])
    ids = select(sets[name], all_case_ids())
    version = getattr(kosoku, "__version__", None) or _distribution_version("kosoku")
    print("autobahn: kosoku %s, set %s: %d cases against %s" % (version, name, len(ids), url),
          flush=True)
    started = time.monotonic()
    try:
        results = asyncio.run(run_cases(url, ids, timeout_seconds))
    except asyncio.TimeoutError:
        print("autobahn: the set did not finish within %d s (CONFORMANCE_SET_TIMEOUT); "
              "kosoku reports only at the end, so there are no results" % timeout_seconds)
        print("autobahn: run did not complete")
        return 2
    elapsed = time.monotonic() - started

    shutil.rmtree(report_dir, ignore_errors=True)
    if results:
        write_reports(results, report_dir)

    by_id = {result.case_id: result for result in results}
    counts = collections.Counter()
    not_passed = []
    for case_id in ids:
        result = by_id.get(case_id)
        if result is None:
            continue
        behaviour, close = result.behavior.value, result.behavior_close.value
        counts[behaviour] += 1
        if behaviour not in PASSING or close not in PASSING:
            not_passed.append(result)
    missing = [case_id for case_id in ids if case_id not in by_id]

    print("autobahn: %d results in %.1f s; behaviours: %s" % (
        len(by_id), elapsed, ", ".join("%s %d" % item for item in sorted(counts.items()))))
    for result in not_passed:
        print("  %s  %s / close %s: %s; %s (close codes: ours %s, server %s)" % (
            result.case_id, result.behavior.value, result.behavior_close.value,
            ascii_line(result.result), ascii_line(result.result_close),
            result.local_close_code, result.remote_close_code))
    if missing:
        print("autobahn: no result for %d cases: %s" % (len(missing), " ".join(missing[:50])))
    passed = len(by_id) - len(not_passed)
    print("autobahn: %d passed, %d failed" % (passed, len(not_passed) + len(missing)))
    if missing:
        return 2
    return 1 if not_passed else 0


def _distribution_version(name):
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "(unknown version)"


def main(argv):
    try:
        if len(argv) >= 2 and argv[0] == "plan":
            return plan(argv[1], argv[2:])
        if len(argv) == 2 and argv[0] == "list":
            return list_sets(argv[1])
        if len(argv) == 6 and argv[0] == "run":
            conf, name, url, report_dir, timeout_seconds = argv[1:]
            return run(conf, name, url, report_dir, int(timeout_seconds))
    except ConfigError as e:
        print("conformance: %s" % e, file=sys.stderr)
        return 2
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
