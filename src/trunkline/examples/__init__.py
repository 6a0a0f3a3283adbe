"""Example voice applications, written as any Vonage app would be (plain HTTP webhooks)."""
