"""The media side: what runs, records and captures each camera's stream,
and the files that come out of it."""
