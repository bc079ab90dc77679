"""Statement builders: journal entries in, CSV / JSON / XML text out; no Flask or pymongo.

Each builder takes a ``Statement`` (which wallet, which period, the opening
balance) and an iterator of journal entries in seq order, and yields text
chunks. It holds one chunk of rows at a time, so memory does not grow with the
number of entries.
"""
from dataclasses import dataclass
from typing import Callable

from reports import csv_report, json_report, xml_report
from reports.statement import JournalMismatch, Statement, filename


@dataclass(frozen=True)
class ReportFormat:
    name: str
    extension: str
    content_type: str
    build: Callable


FORMATS = {
    "csv": ReportFormat("csv", "csv", "text/csv; charset=utf-8", csv_report.build),
    "json": ReportFormat("json", "json", "application/json", json_report.build),
    "xml": ReportFormat("xml", "xml", "application/xml", xml_report.build),
}

__all__ = ["FORMATS", "JournalMismatch", "ReportFormat", "Statement", "filename"]
