-- Which volume record names each mailbox link (the message record itself, or a link
-- record), so that an access decision can confirm a link against the record before it
-- serves content: a link inserted into the catalog by hand is named by no record.
-- Rows applied before this migration have none: `coffer recatalog` fills them.
ALTER TABLE message_mailboxes ADD COLUMN via_year INTEGER;
ALTER TABLE message_mailboxes ADD COLUMN via_seq INTEGER;
