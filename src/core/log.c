/*
 * log.c - leveled log lines (see log.h).
 *
 * A single FILE* guarded by a mutex; each line is formatted into a local
 * buffer first and written with one fputs, so concurrent threads never
 * interleave within a line.  Lines are flushed immediately: logs are for
 * operators reading them live.
 */
#include "log.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static FILE *log_fp;
static enum klog_level log_min = KLOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void klog_init(const char *path, enum klog_level min)
{
	pthread_mutex_lock(&log_lock);
	if (log_fp && log_fp != stderr)
		fclose(log_fp);
	log_fp = NULL;
	if (path && *path) {
		log_fp = fopen(path, "a");
		if (!log_fp)
			fprintf(stderr, "kumo: cannot open log file %s, logging to stderr\n", path);
	}
	log_min = min;
	pthread_mutex_unlock(&log_lock);
}

void klog_set_level(enum klog_level min)
{
	log_min = min;
}

static const char *level_name[] = { "DEBUG", "INFO", "WARNING", "ERROR" };

void klog(enum klog_level lvl, const char *component, const char *fmt, ...)
{
	if (lvl < log_min)
		return;
	char line[2048];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02d %02d:%02d:%02d.%03d %s %s: ",
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	                 tm.tm_sec, (int)(tv.tv_usec / 1000), level_name[lvl],
	                 component ? component : "kumo");
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	size_t len = strlen(line);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	/* one event, one line: fold embedded newlines */
	for (size_t i = 0; i < len; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[len] = '\n';
	line[len + 1] = '\0';
	pthread_mutex_lock(&log_lock);
	FILE *fp = log_fp ? log_fp : stderr;
	fputs(line, fp);
	fflush(fp);
	pthread_mutex_unlock(&log_lock);
}

void klog_token_ref(const char *token, char out[9])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	static const char hex[] = "0123456789abcdef";
	SHA256((const unsigned char *)(token ? token : ""), token ? strlen(token) : 0, md);
	for (int i = 0; i < 4; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[8] = '\0';
}
