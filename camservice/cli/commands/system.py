"""``sessions``: who is connected (admin)."""
from __future__ import annotations

from camservice.cli import exits

__all__ = ["sessions"]


async def sessions(ctx, args) -> int:
    result = await ctx.call("list_sessions")
    ctx.out.document(result)
    rows = []
    for s in result.get("sessions") or []:
        credential = s.get("credential") or {}
        rows.append((
            s.get("session_id"), f"{s.get('address')}:{s.get('port')}", s.get("tls"), s.get("since"),
            s.get("user_id"), s.get("role"), credential.get("kind"), "*" if s.get("current") else "",
        ))
    ctx.out.table(("SESSION", "PEER", "TLS", "SINCE", "USER", "ROLE", "CREDENTIAL", "CURRENT"), rows,
                  empty="no sessions")
    return exits.OK
