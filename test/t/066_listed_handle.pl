
# Copyright: see LICENSE.
#
# A handle read from pg_background_jobs while the job's launch waits for its
# worker carries PID 0 (the worker's PID is not known yet); it must still
# name the job once the worker has attached and the list shows its PID.
# The postmaster is held with SIGSTOP so that the worker cannot start while
# an observer session reads the list.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('listed_handle');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_background'
max_worker_processes = 8
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_background');
my $launcher = $node->background_psql('postgres', on_error_stop => 0);
my $observer = $node->background_psql('postgres', on_error_stop => 0);
my $postmaster = $node->{_pid};
END { kill('CONT', $postmaster) if $postmaster; }

kill('STOP', $postmaster);
$launcher->query_until(qr/launching/, q{
\echo launching
SELECT pid FROM pg_background_launch_v2('SELECT 42', 65536, 'slow');
\echo launched
});
my $h = '';
my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
while ($h eq '' && time() < $deadline)
{
	$h = $observer->query_safe(
		q{SELECT pid || ',' || cookie FROM pg_background_jobs WHERE label = 'slow'});
	select(undef, undef, undef, 0.05) if $h eq '';
}
like($h, qr/^0,-?\d+$/, 'the job being launched is listed with PID 0');
my ($pid, $cookie) = split /,/, $h;
is($observer->query_safe("SELECT state FROM pg_background_outcome($pid, $cookie)"),
	'running', 'its listed handle names it while it is launched');

kill('CONT', $postmaster);
$launcher->query_until(qr/launched/, '');
ok( $node->poll_query_until(
		'postgres', q{SELECT pid > 0 FROM pg_background_jobs WHERE label = 'slow'}),
	'once launched, the list shows its worker\'s PID');
ok( $node->poll_query_until(
		'postgres', "SELECT state FROM pg_background_outcome($pid, $cookie)", 'stopped'),
	'the handle read while it was launched still names the job (it ended stopped)');
my $out = $observer->query("SELECT pg_background_wait_v2($pid, $cookie)");
is($observer->{stderr}, '', 'wait_v2 with that handle works');

$launcher->quit;
$observer->quit;
$node->stop;
done_testing();
