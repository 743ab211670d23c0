"""Notices to people: escalation and reminders, the daily digest, and the outbox that delivers
them to webhooks and WeCom or DingTalk group robots, with retries and a record of delivery."""
