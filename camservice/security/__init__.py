"""Rules that keep hostile input out: whole-string schema patterns, stream
URL syntax, which hosts camservice may be made to connect to, and the
redaction of credentials before anything is shown or logged."""
