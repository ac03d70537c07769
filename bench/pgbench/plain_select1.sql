-- The floor: SELECT 1 in the session itself.
SELECT 1;
