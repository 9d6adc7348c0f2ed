"""Who may read and publish camservice's streams, and use MediaMTX's
Control API: MediaMTX asks camservice (``authMethod: http``) about each."""
from camservice.streamauth.policy import AccessRequest, Decision, StreamAccessPolicy, signed_urls_enabled
from camservice.streamauth.secrets import StreamSecrets, load_api_password, load_stream_key
from camservice.streamauth.tokens import StreamTokens

__all__ = [
    "AccessRequest",
    "Decision",
    "StreamAccessPolicy",
    "StreamSecrets",
    "StreamTokens",
    "load_api_password",
    "load_stream_key",
    "signed_urls_enabled",
]
