
# Copyright: see LICENSE.
#
# A flood of submitted jobs from one session does not hold the server's
# dynamic shared memory segments (session.c, launch.c).
#
# Dynamic shared memory segments are a server-wide resource: the server
# has room for 64 + 5 * MaxBackends of them at once (here max_connections =
# 20 and max_worker_processes = 16: some 260).  A job submitted with
# pg_background_submit_v2 keeps no results, so once its worker is done
# nothing needs its segment any more but its outcome; the session keeps a
# copy of that and lets the segment go at its next launch, as it does for a
# job whose results were read.  It used to keep every submitted job's
# segment mapped until the job was waited for or detached: one statement
# of one role submitting a few hundred short jobs then failed itself with
# 53000 "too many dynamic shared memory segments", and, while that session
# stayed, every other role's launches failed the same way (and parallel
# queries got no workers).
#
# Node: shared_preload_libraries = 'pg_background', pool_size = 4,
# pg_background.max_workers = 1000 (a session may hold 16 jobs not detached
# by default; the flood holds 600).
#
# 1. regress_flood submits 600 jobs 'SELECT 1' in one statement, in a
#    session that stays open: the statement returns 600, without error.
# 2. Once every one of them is over (the session lists none queued or
#    running), outcome of the last one: stopped, SELECT 1.
# 3. While that session stays, regress_other launches a job and reads its
#    result (42).
# 4. The flooding session can still wait for, and detach, its first job.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest;

my $node = PostgreSQL::Test::Cluster->new('submit_flood_dsm');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_background'
max_connections = 20
max_worker_processes = 16
pg_background.pool_size = 4
pg_background.pool_idle_timeout = 3600
pg_background.max_workers = 1000
log_min_messages = log
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE ROLE regress_flood LOGIN;
CREATE ROLE regress_other LOGIN;
SELECT grant_pg_background_privileges(r, false)
  FROM unnest(ARRAY['regress_flood', 'regress_other']) r;
});

# 1. The flood, in a session that stays.
my $flood = launcher_session($node);
run_query($flood, 'SET ROLE regress_flood');
my ($out, $err) = run_query($flood, q{
SELECT count(*), min(pid) FILTER (WHERE n = 1), max(cookie) FILTER (WHERE n = 1),
       min(pid) FILTER (WHERE n = 600), max(cookie) FILTER (WHERE n = 600)
FROM generate_series(1, 600) n,
     LATERAL pg_background_submit_v2('SELECT 1 /* ' || n || ' */') h});
is($err, '', '(1) the flood of 600 submissions raised no error');
my ($count, $first_pid, $first_cookie, $last_pid, $last_cookie) =
  split /\|/, $out;
is($count, '600', '(1) 600 jobs were submitted');

# 2. Until all are over (with a deadline).
my $left = '';
my $until = time() + $PostgreSQL::Test::Utils::timeout_default;
while (time() < $until)
{
	($left) = run_query($flood, q{
SELECT count(*) FROM pg_background_list() WHERE state IN ('queued', 'running')});
	last if $left eq '0';
	select(undef, undef, undef, 0.05);
}
is($left, '0', '(2) every submitted job is over');
($out, $err) = run_query($flood,
	"SELECT state, command_tag FROM pg_background_outcome($last_pid, $last_cookie)");
is("$out$err", 'stopped|SELECT 1', '(2) the last one stopped after SELECT 1');

# 3. Another role, while the flooding session stays.
my ($stdout, $stderr);
$node->psql('postgres',
	q{SET ROLE regress_other;
SELECT * FROM pg_background_result(pg_background_launch('SELECT 42')) AS (x int)},
	stdout => \$stdout, stderr => \$stderr,
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
is($stderr, '', '(3) another role launches without error');
is($stdout, '42', '(3) and reads its result');

# 4. The first job of the flood.
($out, $err) = run_query($flood, qq{
SELECT pg_background_wait_v2($first_pid, $first_cookie);
SELECT state FROM pg_background_outcome($first_pid, $first_cookie);
SELECT pg_background_detach_v2($first_pid, $first_cookie)});
is("$out$err", "\nstopped\n", '(4) the first job: waited for, stopped, detached');
$flood->quit;

my $log = slurp_file($node->logfile);
unlike($log, qr/TRAP:|PANIC:|terminated by signal/,
	'no assertion failure, PANIC or crash in the log');

$node->stop;
done_testing();
