"""The report templates (Jinja2): ``compliance.html.j2`` (the auditor's HTML report, with
``report.css`` and ``report.js`` inlined into it) and ``summary.md.j2`` (the CI summary). They ship
inside the package as ``ams_iam_audit.reports``; a team can restyle them in a fork."""
