"""The HTML report of a model and its plots: ``clf.report_.save("report.html")`` or ``handful report MODEL``."""

from handful.report.html import Report

__all__ = ["Report"]
