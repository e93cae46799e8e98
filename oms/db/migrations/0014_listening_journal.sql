-- How far the listening journal (append-only files in the data dir's journal/ folder, written
-- before a report is acknowledged) is moved into listening_reports: every report in a file of
-- an earlier generation, and in this generation's file up to `position` bytes. A starting
-- node replays the rest. Updated in the same transaction as the reports it covers.
CREATE TABLE listening_journal (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL,
    position   INTEGER NOT NULL
) STRICT;
INSERT INTO listening_journal (id, generation, position) VALUES (1, 0, 0);
