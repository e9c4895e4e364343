-- Mailbox links packed into the message row (issue 24); see the SQLite migration of
-- the same number for the reasons. `mailboxes`: the mailbox ids the message record
-- names, ascending, in decimal, separated by commas (NULL for none); links named by a
-- later link record keep a row in `message_links`, `via` never NULL.

ALTER TABLE messages ADD COLUMN mailboxes TEXT;

UPDATE messages m SET mailboxes = l.list
FROM (
    SELECT message, string_agg(mailbox::text, ',' ORDER BY mailbox) AS list
    FROM message_mailboxes WHERE via IS NULL GROUP BY message
) l
WHERE m.id = l.message;

CREATE TABLE message_links (
    message BIGINT NOT NULL REFERENCES messages (id),
    mailbox BIGINT NOT NULL REFERENCES mailboxes (id),
    via     BIGINT NOT NULL,
    PRIMARY KEY (message, mailbox)
);

INSERT INTO message_links (message, mailbox, via)
SELECT message, mailbox, via FROM message_mailboxes WHERE via IS NOT NULL;

DROP TABLE message_mailboxes;
