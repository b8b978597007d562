-- Umbrella's reporting role: it may log in and read, but owns nothing (the application owns the schema).
CREATE ROLE reporter LOGIN PASSWORD 'reporter';
GRANT CONNECT ON DATABASE app TO reporter;
