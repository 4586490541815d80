"""The HTML report and its plots (see the report issue)."""
