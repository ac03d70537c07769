
# Copyright: see LICENSE.
#
# The launching session sees the same outcome as every other session for a
# job that ended without a word from a worker (control.c).
#
# A job canceled while it was queued never had a worker: the directory
# records its ending (57014 "canceling job while it was queued"), but its
# segment, where the launching session reads the outcome of its own jobs,
# still says 'starting'.  The launching session used to show such a job as
# 'canceled' with no SQLSTATE and no message, while other sessions showed
# 57014 and the message.
#
# Node: shared_preload_libraries = 'pg_background', max_total_workers = 0 (every
# job queues).  A session submits a job and cancels it; then, in that
# session and in another one: state, SQLSTATE and message of
# pg_background_outcome, and the same once the launching session has let
# go of the segment (pg_background_list settles it).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest;

my $node = PostgreSQL::Test::Cluster->new('own_outcome_directory');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_background'
max_worker_processes = 8
pg_background.max_total_workers = 0
log_min_messages = log
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_background');

my $expected = 'canceled|57014|canceling job while it was queued';
my $s = launcher_session($node);
my ($out, $err) = run_query($s,
	q{SELECT pid, cookie FROM pg_background_submit_v2('SELECT 1')});
my ($pid, $cookie) = split /\|/, $out;
cmp_ok($pid, '<', 0, 'the job is queued');
($out, $err) = run_query($s, "SELECT pg_background_cancel_v2($pid, $cookie)");
is($err, '', 'the launching session cancels it');

my $query =
  "SELECT state, sqlstate, message FROM pg_background_outcome($pid, $cookie)";
is($node->safe_psql('postgres', $query), $expected, 'another session: 57014');
($out, $err) = run_query($s, $query);
is("$out$err", $expected, 'the launching session: the same');
($out, $err) = run_query($s,
	"SELECT state FROM pg_background_list() WHERE pid = $pid AND cookie = $cookie");
is("$out$err", 'canceled', 'its list shows it canceled');
($out, $err) = run_query($s, $query);
is("$out$err", $expected, 'the launching session, later: the same');
$s->quit;

$node->stop;
done_testing();
