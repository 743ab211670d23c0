"""The cadres' web page: server-rendered, in Chinese by default, with live updates by server-sent events."""
