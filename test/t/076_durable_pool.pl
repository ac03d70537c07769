# Durable jobs and the warm pool (docs/durable.md, "How they run"): a due
# attempt whose role and database have a parked worker runs on it, with
# the same exactly-once rules, and a worker that ran an attempt parks
# afterwards, for later jobs of its role.
#
# Node: shared_preload_libraries = 'pg_background', pool_size = 2,
# pool_idle_timeout = 3600 (no parked worker leaves on its own while the
# test runs), roles regress_alice and regress_bob.  "Parked" means:
# pg_background_admission().pool_idle counts it.  Nothing waits with a
# sleep: jobs block on advisory locks a session of the test holds.
#
# 1. An ordinary job of regress_alice parks its worker P (pool_idle 1).  A
#    durable job of regress_alice then records pg_backend_pid() = P: it ran
#    on the parked worker; succeeded at its first attempt, its row once;
#    pg_background_jobs shows its attempt with pid P, stopped.  P parks
#    again (pool_idle 1, P idle in pg_stat_activity), and the next ordinary
#    job of regress_alice runs on P.
# 2. A durable job of regress_bob (no worker of his parked) runs on a new
#    worker D, which parks afterwards (pool_idle 2): an ordinary job of
#    regress_bob then runs on D.
# 3. A durable job that fails on a parked worker: its INSERT is rolled back
#    (no row), the job is failed with 22012 after its one attempt, its
#    attempt's entry shows the parked worker's pid, state error, 22012; the
#    worker does not park again (it exits).
# 4. pg_background_cancel_job of an attempt running on a pooled worker
#    (waiting for a lock): the job is canceled (57014), its row absent.
# 5. Exactly once across a crash: an attempt on a pooled worker waits for a
#    lock; pg_ctl restart -m immediate; the job runs again after the
#    restart and succeeds at its second attempt, its row once.
# 6. The server log shows no TRAP or PANIC.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest qw(pool_node pool_session pool_job wait_parked poll_until psql_as
  enqueue_job parked_pid_of wait_job waits_for_advisory_lock);

my $node = pool_node('durable_pool', max_worker_processes => 16);
$node->safe_psql('postgres', q{
CREATE TABLE t (k text, pid int);
GRANT ALL ON t TO regress_alice, regress_bob;
});

my $A = pool_session($node, 'regress_alice');
my $B = pool_session($node, 'regress_bob');
my ($out, $err);

# 1. A durable attempt runs on a parked worker, which parks again.
($out, $err) = pool_job($A, 'SELECT pg_backend_pid()', 'p int');
is($err, '', '(1) the ordinary job ran');
my $P = $out;
wait_parked($node, '(1) after the ordinary job', 1);
is(parked_pid_of($node, 'regress_alice'), $P, '(1) its worker P is parked');

my $id = enqueue_job($node, q{INSERT INTO t VALUES ('one', pg_backend_pid())}, 'one', 'regress_alice');
is(wait_job($node, $id, 'regress_alice'), 't',
	'(1) the durable job finishes');
is(psql_as($node, "SELECT state, attempts, command_tag FROM pg_background_job($id)", 'regress_alice'),
	'succeeded|1|INSERT 0 1', '(1) it succeeded at its first attempt');
is($node->safe_psql('postgres', q{SELECT string_agg(pid::text, ',') FROM t WHERE k = 'one'}),
	$P, '(1) its row, once, records the parked worker P as its backend');
ok(poll_until($node, q{SELECT pid || ' ' || state FROM pg_background_jobs WHERE label = 'one'},
	"$P stopped", 60), '(1) its attempt\'s entry shows P, stopped');
wait_parked($node, '(1) after the durable job', 1);
is(parked_pid_of($node, 'regress_alice'), $P, '(1) P is parked again');
is($node->safe_psql('postgres', q{SELECT pool_idle FROM pg_background_admission()}),
	'1', '(1) one worker parked: P');
($out, $err) = pool_job($A, 'SELECT pg_backend_pid()', 'p int');
is($out, $P, '(1) the next ordinary job of the role runs on P');
wait_parked($node, '(1) after that job', 1);

# 2. A durable worker parks afterwards and serves ordinary launches.
$id = enqueue_job($node, q{INSERT INTO t VALUES ('two', pg_backend_pid())}, 'two', 'regress_bob');
is(wait_job($node, $id, 'regress_bob'), 't',
	'(2) the durable job of regress_bob finishes');
is(psql_as($node, "SELECT state, attempts FROM pg_background_job($id)", 'regress_bob'),
	'succeeded|1', '(2) it succeeded at its first attempt');
my $D = $node->safe_psql('postgres', q{SELECT pid FROM t WHERE k = 'two'});
isnt($D, $P, '(2) it ran on a worker of its own role, D');
wait_parked($node, '(2) after the durable job', 2);
is(parked_pid_of($node, 'regress_bob'), $D, '(2) D is parked');
($out, $err) = pool_job($B, 'SELECT pg_backend_pid()', 'p int');
is($err, '', '(2) an ordinary job of regress_bob ran');
is($out, $D, '(2) on D, the worker of the durable job');
wait_parked($node, '(2) after that job', 2);

# 3. An attempt that fails on a parked worker rolls back; the worker exits.
$P = parked_pid_of($node, 'regress_alice');
$id = enqueue_job($node,
	q{INSERT INTO t VALUES ('three', pg_backend_pid()); SELECT 1/0}, 'three', 'regress_alice');
is(wait_job($node, $id, 'regress_alice'), 't',
	'(3) the failing job finishes');
is(psql_as($node, "SELECT state, attempts, sqlstate FROM pg_background_job($id)", 'regress_alice'),
	'failed|1|22012', '(3) it failed at its one attempt with 22012');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE k = 'three'}),
	'0', '(3) its INSERT was rolled back');
ok(poll_until($node, q{SELECT pid || ' ' || state || ' ' || sqlstate FROM pg_background_jobs
	WHERE label = 'three'}, "$P error 22012", 60),
	'(3) its attempt ran on the parked worker P and ended with 22012');
ok(poll_until($node, "SELECT count(*) FROM pg_stat_activity WHERE pid = $P", '0', 60),
	'(3) P exits instead of parking');

# 4. Cancel of an attempt on a pooled worker.
($out, $err) = pool_job($A, 'SELECT pg_backend_pid()', 'p int');
my $Q = $out;
wait_parked($node, '(4) a new worker of regress_alice', 2);
my $locker = pool_session($node);
$locker->query_safe('SELECT pg_advisory_lock(7474)');
$id = enqueue_job($node,
	q{SELECT pg_advisory_xact_lock(7474); INSERT INTO t VALUES ('four', pg_backend_pid())},
	'four', 'regress_alice');
ok(waits_for_advisory_lock($node, $Q),
	'(4) the attempt waits for the lock on the parked worker Q');
is(psql_as($node, "SELECT pg_background_cancel_job($id)", 'regress_alice'), 't',
	'(4) cancel_job: true');
is(wait_job($node, $id, 'regress_alice'), 't',
	'(4) the job finishes');
is(psql_as($node, "SELECT state, sqlstate FROM pg_background_job($id)", 'regress_alice'),
	'canceled|57014', '(4) it is canceled with 57014');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE k = 'four'}),
	'0', '(4) and left no row');

# 5. Exactly once across an immediate restart.
($out, $err) = pool_job($A, 'SELECT pg_backend_pid()', 'p int');
my $R = $out;
ok(poll_until($node, "SELECT state FROM pg_stat_activity WHERE pid = $R", 'idle', 60),
	'(5) a worker R of regress_alice is parked');
$id = enqueue_job($node,
	q{SELECT pg_advisory_xact_lock(7474); INSERT INTO t VALUES ('five', pg_backend_pid())},
	'five', 'regress_alice');
ok(waits_for_advisory_lock($node, $R),
	'(5) the attempt waits for the lock on R');
$node->stop('immediate');
eval { $A->quit; };
eval { $B->quit; };
eval { $locker->quit; };
$node->start;
is(wait_job($node, $id, 'regress_alice'), 't',
	'(5) after the restart, the job finishes');
is(psql_as($node, "SELECT state, attempts FROM pg_background_job($id)", 'regress_alice'),
	'succeeded|2', '(5) it succeeded at its second attempt');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE k = 'five'}),
	'1', '(5) its row exists once');

# 6. No crash.
my $log = slurp_file($node->logfile);
unlike($log, qr/TRAP:|PANIC:/, '(6) no assertion failure or PANIC in the log');

$node->stop;
done_testing();
