"""Business calendars: working windows, official days and the admin's own, and the
working-time arithmetic SLA timers, schedules and expressions share.

`model` (the calendar as data), `arithmetic` (pure functions on it), `official` (the
`holidays` data package), `book` (the calendars by key and the process's current book,
the warnings), `storage` (the system tables), `ics` (importing days from an ICS file).
"""
