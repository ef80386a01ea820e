"""The case owner's Inbox: what happened to a case's referrals that its owner must see
(escalated, declined, expired, could not help, completed), each to be marked done.

The referral services add items (`services.inbox_item_add`); the agency pages are in
`views.py`, the navigation count in `context_processors.py`."""
