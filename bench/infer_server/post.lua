-- wrk: posts one fixed KServe v2 request with binary tensor data, read from
-- $GPUMIX_WRK_BODY (JSON header of $GPUMIX_WRK_HEADER_LENGTH bytes, then the pixels).
local f = assert(io.open(os.getenv("GPUMIX_WRK_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Inference-Header-Content-Length"] = os.getenv("GPUMIX_WRK_HEADER_LENGTH")
