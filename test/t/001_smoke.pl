# A node with the extension answers a launch.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('smoke');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_background');
is( $node->safe_psql(
		'postgres',
		q{SELECT * FROM pg_background_result(pg_background_launch('SELECT 42')) AS (x int)}
	),
	'42',
	'launch and result');
$node->stop;
done_testing();
