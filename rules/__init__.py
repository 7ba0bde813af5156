"""The built-in audit rules: one pytest test function per rule, shipped inside the package as
``ams_iam_audit.rules`` so that ``pytest --aws-account …`` finds them from any directory."""
