# Rows sent ahead: a worker whose queue is full keeps a batch of rows in
# flight and goes on producing (src/send.c), and waits only once it is
# SEND_AHEAD batches ahead.  These checks make the worker get that far
# before the launcher reads anything, so that a batch is in flight, partly
# in the queue, while the next one grows and notices are sent in between:
#
# (a) a job of 20,000 rows (queue_size 1024: batches of 1 kB) that raises a
#     notice every 5,000 rows, launched and not read until the worker waits
#     on its full queue (wait event MessageQueuePutMessage); then read with
#     WITH ORDINALITY: every row arrives, in order, with its value, and the
#     four notices come in order, before the job's end;
# (b) the same with rows of mixed sizes, some larger than a batch (3 kB),
#     so a single row overflows the ring: the sums of all values match;
# (c) a job whose launcher detaches it while its worker waits with a batch
#     in flight: the worker drops the rows and goes on to the end of its
#     statement, whose INSERT (a CTE) commits;
# (d) the default queue (64 kB, batches of 32 kB): 300,000 rows read as
#     they come, same checks as (a) without notices.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest;

my $node = PostgreSQL::Test::Cluster->new('send_ahead');
$node->init;
$node->append_conf('postgresql.conf', 'max_worker_processes = 16');
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE TABLE t (k text);
CREATE FUNCTION note_every(g int, n int) RETURNS int LANGUAGE plpgsql AS $f$
BEGIN
	IF g % n = 0 THEN
		RAISE NOTICE 'row %', g;
	END IF;
	RETURN g;
END
$f$;
});

my $L = launcher_session($node);
my ($out, $err, $pid, $cookie);

# Launch $sql with queue_size $qs in the launcher; wait until its worker
# waits for room in its queue; returns (pid, cookie).
sub launch_until_full
{
	my ($what, $sql, $qs) = @_;
	my ($o, $e) = run_query($L,
		"SELECT pid, cookie FROM pg_background_launch_v2(\$q\$$sql\$q\$, $qs)");
	is($e, '', "$what: launched");
	my ($p, $c) = split /\|/, $o;
	ok( $node->poll_query_until(
			'postgres',
			"SELECT wait_event FROM pg_stat_activity WHERE pid = $p",
			'MessageQueuePutMessage'),
		"$what: the worker got ahead until it waits for room in its queue");
	return ($p, $c);
}

# (a) A batch in flight, notices in between.
($pid, $cookie) = launch_until_full('(a)',
	q{SELECT note_every(g, 5000) AS g, 'v' || g AS v FROM generate_series(1, 20000) g},
	1024);
($out, $err) = run_query($L, qq{
SELECT count(*), count(*) FILTER (WHERE o = g AND v = 'v' || g), min(g), max(g)
FROM ROWS FROM (pg_background_result_v2($pid, $cookie) AS (g int, v text))
	WITH ORDINALITY AS r(g, v, o)});
is($out, '20000|20000|1|20000', '(a) every row arrives, in order, with its value');
my @notices = ($err =~ /NOTICE:  (?:\S+: )?row (\d+)/g);
is(join(',', @notices), '5000,10000,15000,20000',
	'(a) the four notices arrive, in order');
unlike($err, qr/ERROR/, '(a) without error');

# (b) Rows larger than a batch, and than the ring.
($pid, $cookie) = launch_until_full('(b)',
	q{SELECT g, repeat(chr(65 + g % 26), CASE WHEN g % 97 = 0 THEN 3000 ELSE g % 50 END) AS v
	  FROM generate_series(1, 20000) g},
	1024);
($out, $err) = run_query($L, qq{
SELECT count(*), count(*) FILTER (WHERE o = g), sum(length(v)),
	count(*) FILTER (WHERE v <> repeat(chr(65 + g % 26), length(v)))
FROM ROWS FROM (pg_background_result_v2($pid, $cookie) AS (g int, v text))
	WITH ORDINALITY AS r(g, v, o)});
my $want = $node->safe_psql('postgres', q{
SELECT 20000, 20000, sum(CASE WHEN g % 97 = 0 THEN 3000 ELSE g % 50 END), 0
FROM generate_series(1, 20000) g});
$want =~ s/\s+$//;
is($out, $want, '(b) every row, big ones too, arrives whole and in order');
is($err, '', '(b) without error');

# (c) Detached with a batch in flight.
($pid, $cookie) = launch_until_full('(c)',
	q{WITH ins AS (INSERT INTO t VALUES ('c') RETURNING 1)
	  SELECT g FROM generate_series(1, 20000) g, ins},
	1024);
($out, $err) = run_query($L, "SELECT pg_background_detach_v2($pid, $cookie)");
is($err, '', '(c) detached');
ok( $node->poll_query_until(
		'postgres', q{SELECT count(*) FROM t WHERE k = 'c'}, '1'),
	'(c) the worker went on: the statement that sent the rows committed');
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid", '0'),
	'(c) and its worker exited');

# (d) The default queue, read as the rows come.
($out, $err) = run_query($L, q{
SELECT count(*), count(*) FILTER (WHERE o = g AND v = md5(g::text)), sum(g)
FROM ROWS FROM (pg_background_result(pg_background_launch(
	'SELECT g, md5(g::text) AS v FROM generate_series(1, 300000) g')) AS (g int, v text))
	WITH ORDINALITY AS r(g, v, o)});
is($out, '300000|300000|45000150000', '(d) default queue: every row, in order');
is($err, '', '(d) without error');

$L->quit;
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|PANIC|TRAP/, 'no crash in the server log');
$node->stop;
done_testing();
