"""The web console: static files served by camservice at ``/`` on the API
port. The page holds no data and is public; everything it shows comes over
the authenticated WebSocket API and ``/files``."""
