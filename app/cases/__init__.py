"""Cases: one biopsy of one patient, known only by a pseudonymous number per institution."""
