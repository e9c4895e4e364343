-- No query of the catalog looks messages up by Message-ID or by date (search does that,
-- in the index), yet every archived message paid for both B-trees on insert: about 1.5%
-- of a bulk import's CPU. A feature that needs such a lookup adds the index it needs,
-- shaped for its query.
DROP INDEX IF EXISTS messages_message_id;
DROP INDEX IF EXISTS messages_date;
