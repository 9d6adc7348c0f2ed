"""Who may reach camservice and how: transport security and access rules."""
