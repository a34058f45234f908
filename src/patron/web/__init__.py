"""The admin console at /console: server-rendered pages for the people who run a program."""
