/*-------------------------------------------------------------------------
 *
 * entropy.c
 *		Random bytes from the strong source, fetched in blocks.
 *
 * Every launch (and every attempt of a durable job) needs a cookie, and
 * every pooled job a new seed for random(), both from pg_strong_random.  With OpenSSL, each call of that
 * costs a few microseconds whatever its size (locks, the generator's
 * state checks), about 4% of a short pooled job's CPU when called twice
 * per job.  So this process fetches PGBG_ENTROPY_BLOCK bytes at a time and
 * hands them out; bytes handed out are cleared from the block.  A block
 * belongs to the process that fetched it: a child of a forked process
 * never sees its parent's bytes (it fetches its own).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "pg_background.h"

#define PGBG_ENTROPY_BLOCK	256

static uint8 entropy_block[PGBG_ENTROPY_BLOCK];
static int	entropy_left = 0;		/* unused bytes, at the block's end */
static int	entropy_owner = 0;		/* PID that fetched the block */

/*
 * Fill buf with len bytes (at most PGBG_ENTROPY_BLOCK) from the strong
 * random source.  Returns false, as pg_strong_random does, if the source
 * failed.
 */
bool
pgbg_random_bytes(void *buf, size_t len)
{
	uint8	   *from;

	Assert(len <= PGBG_ENTROPY_BLOCK);
	if (entropy_owner != MyProcPid)
	{
		entropy_left = 0;
		entropy_owner = MyProcPid;
	}
	if (entropy_left < (int) len)
	{
		if (!pg_strong_random(entropy_block, sizeof(entropy_block)))
		{
			entropy_left = 0;
			return false;
		}
		entropy_left = sizeof(entropy_block);
	}
	from = entropy_block + sizeof(entropy_block) - entropy_left;
	memcpy(buf, from, len);
	explicit_bzero(from, len);
	entropy_left -= len;
	return true;
}

/*
 * A new job's cookie: random, never zero (zero means "no cookie"), so that
 * it tells the job apart from any other whose worker got the same PID.  A
 * failed random source is an error: a guessable cookie is never handed out.
 */
int64
pgbg_random_cookie(void)
{
	int64		cookie = 0;

	while (cookie == 0)
	{
		if (!pgbg_random_bytes(&cookie, sizeof(cookie)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random cookie for a background worker")));
	}
	return cookie;
}
