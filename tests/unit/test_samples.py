"""Raw samples survive the CSV round trip; a file from an older format is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from drillkit.measure.raw import SAMPLE_COLUMNS, SamplesFormatError, read_samples, sample_row
from drillkit.measure.samples import CsvLog, Sample


def test_samples_round_trip_through_csv_with_unsent_requests(tmp_path: Path):
    rows = [Sample("global/write_read", "global", "write", 10.0, 10.001, 0.5, 0, "timeout"),
            Sample("global/write_read", "global", "read_back", 10.0, None, 0.5, 0, "not_sent"),
            Sample("region-a/read", "region-a", "read", 10.05, 10.0502, 0.012, 200, "")]
    log = CsvLog(tmp_path / "samples.csv", SAMPLE_COLUMNS)
    for row in rows:
        log.add(sample_row(row))
    log.close()
    assert read_samples(tmp_path / "samples.csv") == rows


def test_a_samples_file_of_the_older_format_is_refused_with_its_missing_columns(tmp_path: Path):
    old = tmp_path / "samples.csv"
    old.write_text("endpoint,kind,intended,latency,status,error,send_lag\nglobal,read,1.0,0.01,200,,0.0\n")
    with pytest.raises(SamplesFormatError, match=r"samples\.csv: missing column\(s\) prober, sent"):
        read_samples(old)


def test_a_sample_knows_its_send_lag_and_completion():
    sample = Sample("global/read", "global", "read", 10.0, 10.25, 0.5, 200, "")
    assert sample.send_lag == pytest.approx(0.25) and sample.completed == 10.5 and sample.succeeded
    assert Sample("global/read", "global", "read", 10.0, None, 2.0, 0, "timeout").send_lag is None


def test_a_malformed_row_is_refused_naming_the_file(tmp_path: Path):
    bad = tmp_path / "samples.csv"
    bad.write_text("prober,endpoint,kind,intended,sent,latency,status,error\nglobal/read,global,read,x,,0.01,200,\n")
    with pytest.raises(SamplesFormatError, match=r"samples\.csv, row 2"):
        read_samples(bad)
