"""Reports of the management half: recording ledger, staff assessment, coverage and timeliness trends,
all read from the reconciliation run's daily figures, and their charts and printable exports."""
