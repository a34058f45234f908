"""Background work on a queue in PostgreSQL: ``patron worker`` runs the scheduled jobs
(``patron.flows.jobs.SCHEDULED``) from procrastinate's queue, on their cron schedules.

``queue`` builds the queue app and runs workers; ``schema`` holds the queue's tables (the
``0022_queue`` migration); ``cli`` is ``patron worker`` and ``patron jobs enqueue``. On
SQLite there is no queue: the server runs the same jobs in-process (``PATRON_JOBS``).
"""
