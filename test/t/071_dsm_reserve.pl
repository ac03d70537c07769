
# Copyright: see LICENSE.
#
# pg_background.dsm_reserve (preload.c): when preloaded, pg_background
# raises min_dynamic_shared_memory (PostgreSQL 14 and later) so that jobs'
# segments come from the main shared memory instead of shared memory files,
# unless min_dynamic_shared_memory is set.  One node
# (dynamic_shared_memory_type = mmap: a segment made as a file shows in
# pg_dynshmem), restarted with each configuration:
#
# 1. Nothing set: min_dynamic_shared_memory is 16MB, and a running job
#    (blocked on an advisory lock) adds no file to pg_dynshmem.
# 2. pg_background.dsm_reserve = 64MB: min_dynamic_shared_memory is 64MB.
# 3. min_dynamic_shared_memory = 4MB in the configuration file: it stays
#    4MB (the administrator's value wins, also over a larger reserve).
# 4. pg_background.dsm_reserve = 0: min_dynamic_shared_memory stays 0, and
#    a running job's segment is a file in pg_dynshmem.
# 5. A bad value of pg_background.dsm_reserve in the file (-1, 'lots') is
#    refused with a message in the log (as core does for an extension's
#    settings, the server starts with the default): min_dynamic_shared_memory
#    is 16MB.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest qw(dsm_count);

plan skip_all => 'min_dynamic_shared_memory exists from PostgreSQL 14 on'
  if $ENV{PG_VERSION_NUM} && $ENV{PG_VERSION_NUM} < 140000;

my $node = PostgreSQL::Test::Cluster->new('dsm_reserve');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_background'
dynamic_shared_memory_type = mmap
});
my $base_conf = slurp_file($node->data_dir . '/postgresql.conf');

# Restart with these extra lines in postgresql.conf.
sub configure
{
	my ($extra) = @_;
	$node->stop if $node->{_pid};
	open(my $fh, '>', $node->data_dir . '/postgresql.conf') or die $!;
	print $fh $base_conf, $extra;
	close $fh;
	$node->start;
}

# Files in pg_dynshmem while a job runs, minus those before it.
sub files_of_a_running_job
{
	my $before = dsm_count($node);
	my $locker = $node->background_psql('postgres');
	$locker->query_safe('SELECT pg_advisory_lock(7101)');
	my $s = $node->background_psql('postgres');
	my $pid = $s->query_safe(
		q{SELECT pg_background_launch('SELECT pg_advisory_lock_shared(7101)')});
	chomp $pid;
	$node->poll_query_until('postgres',
		"SELECT wait_event FROM pg_stat_activity WHERE pid = $pid", 'advisory')
	  or die 'the job does not wait';
	my $during = dsm_count($node);
	$locker->query_safe('SELECT pg_advisory_unlock(7101)');
	$s->query_safe("SELECT * FROM pg_background_result($pid) AS (x text)");
	$s->quit;
	$locker->quit;
	return $during - $before;
}

configure('');
$node->safe_psql('postgres', 'CREATE EXTENSION pg_background');
is($node->safe_psql('postgres', 'SHOW min_dynamic_shared_memory'),
	'16MB', '(1) min_dynamic_shared_memory is raised to 16MB');
is(files_of_a_running_job(), 0,
	'(1) a running job\'s segment is not a file in pg_dynshmem');

configure("pg_background.dsm_reserve = '64MB'\n");
is($node->safe_psql('postgres', 'SHOW min_dynamic_shared_memory'),
	'64MB', '(2) dsm_reserve = 64MB: min_dynamic_shared_memory is 64MB');

configure("pg_background.dsm_reserve = '64MB'\nmin_dynamic_shared_memory = '4MB'\n");
is($node->safe_psql('postgres', 'SHOW min_dynamic_shared_memory'),
	'4MB', '(3) an explicit min_dynamic_shared_memory wins');

configure("pg_background.dsm_reserve = 0\n");
is($node->safe_psql('postgres', 'SHOW min_dynamic_shared_memory'),
	'0', '(4) dsm_reserve = 0: min_dynamic_shared_memory stays 0');
is(files_of_a_running_job(), 1,
	'(4) a running job\'s segment is a file in pg_dynshmem');

for my $bad ('-1', q{'lots'})
{
	$node->stop;
	open(my $fh, '>', $node->data_dir . '/postgresql.conf') or die $!;
	print $fh $base_conf, "pg_background.dsm_reserve = $bad\n";
	close $fh;
	my $log_offset = -s $node->logfile;
	$node->start;
	my $log = substr(slurp_file($node->logfile), $log_offset);
	like($log, qr/invalid value for parameter "pg_background.dsm_reserve"|is outside the valid range for parameter "pg_background.dsm_reserve"/,
		"(5) dsm_reserve = $bad: the log says it is refused");
	is($node->safe_psql('postgres', 'SHOW min_dynamic_shared_memory'),
		'16MB', "(5) dsm_reserve = $bad: the default applies");
}
configure('');
$node->stop;
done_testing();
