#include "api.h"

#include <string.h>

#include "opapi.h"
#include "planapi.h"

bool api_owns(const char *path)
{
	return opapi_owns(path) || planapi_owns(path);
}

void api_handle(struct store *st, const struct api_params *prm, const char *method,
                const char *path, const char *body, size_t len, const char *who, int64_t now,
                struct api_response *out)
{
	memset(out, 0, sizeof(*out));
	if (planapi_owns(path))
		planapi_handle(st, prm, method, path, who, now, out);
	else if (opapi_owns(path))
		opapi_handle(st, prm, method, path, body, len, who, now, out);
	else
		api_respond_error(out, 404, "no such path");
}
