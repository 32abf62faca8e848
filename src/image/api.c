/*
 * api.c - the Glance v2 API proper: /v2/images (create, list, show, JSON
 * patch, delete), deactivate/reactivate, tags, members and /v2/schemas/...
 * (including the metadata-definition schemas; the /v2/metadefs API itself
 * is not implemented).  Uploads and downloads are data.c's.
 *
 * Each handler follows Glance's layers in Glance's order, because the order
 * decides which error a client sees: the request deserializer (body shape,
 * JSON patch syntax, read-only and reserved attributes, JSON-schema
 * validation of the values), the image lookup (visibility: 404), the policy
 * (403, or 404 when the caller may not even see the image), the domain rules
 * (status transitions, protected images, formats frozen after upload), the
 * quotas ([image] image_property_quota, image_tag_quota, image_member_quota,
 * 128 each by default: 413) and the database's own checks (integers that fit
 * 32 bits, no 4-byte UTF-8 in values: 400).  Messages are Glance's.
 *
 * Validation uses the very schema documents the API serves (GET
 * /v2/schemas/image, built from Glance's images.py and its default
 * schema-image.json), so what glanceclient validates against and what the
 * server enforces cannot drift apart.  The validator knows the keywords
 * those documents use (type, enum, maxLength, minLength, pattern, items,
 * properties, additionalProperties, required) and words its errors as the
 * Python jsonschema library does, including the pprint'ed schema fragment.
 */
#include <ctype.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/auth.h"
#include "core/conf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "image.h"

#define MAX_INT32 2147483647LL

/* ------------------------------------------------------------------------ */
/* The schema documents, as Glance serves them (generated from Glance's
 * images.py, image_members.py and etc/schema-image.json). */

/* GET /v2/schemas/image */
static const char schema_image[] =
	"{\"name\": \"image\", \"properties\": {\"id\": {\"type\": \"string\", \"description\": \""
	"An identifier for the image\", \"pattern\": \"^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-"
	"fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$\"}, \"name\": {\"type\": [\"null\", \"stri"
	"ng\"], \"description\": \"Descriptive name for the image\", \"maxLength\": 255}, \"statu"
	"s\": {\"type\": \"string\", \"readOnly\": true, \"description\": \"Status of the image\""
	", \"enum\": [\"queued\", \"saving\", \"active\", \"killed\", \"deleted\", \"uploading\","
	" \"importing\", \"pending_delete\", \"deactivated\"]}, \"visibility\": {\"type\": \"stri"
	"ng\", \"description\": \"Scope of image accessibility\", \"enum\": [\"community\", \"pub"
	"lic\", \"private\", \"shared\"]}, \"protected\": {\"type\": \"boolean\", \"description\""
	": \"If true, image will not be deletable.\"}, \"os_hidden\": {\"type\": \"boolean\", \"d"
	"escription\": \"If true, image will not appear in default image list response.\"}, \"che"
	"cksum\": {\"type\": [\"null\", \"string\"], \"readOnly\": true, \"description\": \"md5 h"
	"ash of image contents.\", \"maxLength\": 32}, \"os_hash_algo\": {\"type\": [\"null\", \""
	"string\"], \"readOnly\": true, \"description\": \"Algorithm to calculate the os_hash_val"
	"ue\", \"maxLength\": 64}, \"os_hash_value\": {\"type\": [\"null\", \"string\"], \"readOn"
	"ly\": true, \"description\": \"Hexdigest of the image contents using the algorithm speci"
	"fied by the os_hash_algo\", \"maxLength\": 128}, \"owner\": {\"type\": [\"null\", \"stri"
	"ng\"], \"description\": \"Owner of the image\", \"maxLength\": 255}, \"size\": {\"type\""
	": [\"null\", \"integer\"], \"readOnly\": true, \"description\": \"Size of image file in "
	"bytes\"}, \"virtual_size\": {\"type\": [\"null\", \"integer\"], \"readOnly\": true, \"de"
	"scription\": \"Virtual size of image in bytes\"}, \"container_format\": {\"type\": [\"nu"
	"ll\", \"string\"], \"description\": \"Format of the container\", \"enum\": [null, \"ami\""
	", \"ari\", \"aki\", \"bare\", \"ovf\", \"ova\", \"docker\", \"compressed\"]}, \"disk_for"
	"mat\": {\"type\": [\"null\", \"string\"], \"description\": \"Format of the disk\", \"enu"
	"m\": [null, \"ami\", \"ari\", \"aki\", \"vhd\", \"vhdx\", \"vmdk\", \"raw\", \"qcow2\", "
	"\"vdi\", \"iso\", \"ploop\"]}, \"created_at\": {\"type\": \"string\", \"readOnly\": true"
	", \"description\": \"Date and time of image registration\"}, \"updated_at\": {\"type\": "
	"\"string\", \"readOnly\": true, \"description\": \"Date and time of the last image modif"
	"ication\"}, \"tags\": {\"type\": \"array\", \"description\": \"List of strings related t"
	"o the image\", \"items\": {\"type\": \"string\", \"maxLength\": 255}}, \"direct_url\": {"
	"\"type\": \"string\", \"readOnly\": true, \"description\": \"URL to access the image fil"
	"e kept in external store\"}, \"min_ram\": {\"type\": \"integer\", \"description\": \"Amo"
	"unt of ram (in MB) required to boot image.\"}, \"min_disk\": {\"type\": \"integer\", \"d"
	"escription\": \"Amount of disk space (in GB) required to boot image.\"}, \"self\": {\"ty"
	"pe\": \"string\", \"readOnly\": true, \"description\": \"An image self url\"}, \"file\":"
	" {\"type\": \"string\", \"readOnly\": true, \"description\": \"An image file url\"}, \"s"
	"tores\": {\"type\": \"string\", \"readOnly\": true, \"description\": \"Store in which im"
	"age data resides.  Only present when the operator has enabled multiple stores.  May be a"
	" comma-separated list of store identifiers.\"}, \"schema\": {\"type\": \"string\", \"rea"
	"dOnly\": true, \"description\": \"An image schema url\"}, \"locations\": {\"type\": \"ar"
	"ray\", \"items\": {\"type\": \"object\", \"properties\": {\"url\": {\"type\": \"string\""
	", \"maxLength\": 255}, \"metadata\": {\"type\": \"object\"}, \"validation_data\": {\"des"
	"cription\": \"Values to be used to populate the corresponding image properties. If the i"
	"mage status is not 'queued', values must exactly match those already contained in the im"
	"age properties.\", \"type\": \"object\", \"writeOnly\": true, \"additionalProperties\": "
	"false, \"properties\": {\"checksum\": {\"type\": \"string\", \"minLength\": 32, \"maxLen"
	"gth\": 32}, \"os_hash_algo\": {\"type\": \"string\", \"maxLength\": 64}, \"os_hash_value"
	"\": {\"type\": \"string\", \"maxLength\": 128}}, \"required\": [\"os_hash_algo\", \"os_h"
	"ash_value\"]}}, \"required\": [\"url\", \"metadata\"]}, \"description\": \"A set of URLs"
	" to access the image file kept in external store\"}, \"kernel_id\": {\"type\": [\"null\""
	", \"string\"], \"pattern\": \"^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a"
	"-fA-F]){4}-([0-9a-fA-F]){12}$\", \"description\": \"ID of image stored in Glance that sh"
	"ould be used as the kernel when booting an AMI-style image.\", \"is_base\": false}, \"ra"
	"mdisk_id\": {\"type\": [\"null\", \"string\"], \"pattern\": \"^([0-9a-fA-F]){8}-([0-9a-f"
	"A-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$\", \"description\": \"ID o"
	"f image stored in Glance that should be used as the ramdisk when booting an AMI-style im"
	"age.\", \"is_base\": false}, \"instance_uuid\": {\"type\": \"string\", \"description\": "
	"\"Metadata which can be used to record which instance this image is associated with. (In"
	"formational only, does not create an instance snapshot.)\", \"is_base\": false}, \"archi"
	"tecture\": {\"description\": \"Operating system architecture as specified in https://doc"
	"s.openstack.org/python-glanceclient/latest/cli/property-keys.html\", \"type\": \"string\""
	", \"is_base\": false}, \"os_distro\": {\"description\": \"Common name of operating syste"
	"m distribution as specified in https://docs.openstack.org/python-glanceclient/latest/cli"
	"/property-keys.html\", \"type\": \"string\", \"is_base\": false}, \"os_version\": {\"des"
	"cription\": \"Operating system version as specified by the distributor.\", \"type\": \"s"
	"tring\", \"is_base\": false}, \"description\": {\"description\": \"A human-readable stri"
	"ng describing this image.\", \"type\": \"string\", \"is_base\": false}, \"cinder_encrypt"
	"ion_key_id\": {\"description\": \"Identifier in the OpenStack Key Management Service for"
	" the encryption key for the Block Storage Service to use when mounting a volume created "
	"from this image\", \"type\": \"string\", \"is_base\": false}, \"cinder_encryption_key_de"
	"letion_policy\": {\"description\": \"States the condition under which the Image Service "
	"will delete the object associated with the 'cinder_encryption_key_id' image property.  I"
	"f this property is missing, the Image Service will take no action\", \"type\": \"string\""
	", \"enum\": [\"on_image_deletion\", \"do_not_delete\"], \"is_base\": false}}, \"addition"
	"alProperties\": {\"type\": \"string\"}, \"links\": [{\"rel\": \"self\", \"href\": \"{sel"
	"f}\"}, {\"rel\": \"enclosure\", \"href\": \"{file}\"}, {\"rel\": \"describedby\", \"href"
	"\": \"{schema}\"}]}"
;

/* GET /v2/schemas/images */
static const char schema_images[] =
	"{\"name\": \"images\", \"properties\": {\"images\": {\"type\": \"array\", \"items\": {\""
	"name\": \"image\", \"properties\": {\"id\": {\"type\": \"string\", \"description\": \"An"
	" identifier for the image\", \"pattern\": \"^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA"
	"-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$\"}, \"name\": {\"type\": [\"null\", \"string"
	"\"], \"description\": \"Descriptive name for the image\", \"maxLength\": 255}, \"status\""
	": {\"type\": \"string\", \"readOnly\": true, \"description\": \"Status of the image\", \""
	"enum\": [\"queued\", \"saving\", \"active\", \"killed\", \"deleted\", \"uploading\", \"i"
	"mporting\", \"pending_delete\", \"deactivated\"]}, \"visibility\": {\"type\": \"string\""
	", \"description\": \"Scope of image accessibility\", \"enum\": [\"community\", \"public\""
	", \"private\", \"shared\"]}, \"protected\": {\"type\": \"boolean\", \"description\": \"I"
	"f true, image will not be deletable.\"}, \"os_hidden\": {\"type\": \"boolean\", \"descri"
	"ption\": \"If true, image will not appear in default image list response.\"}, \"checksum"
	"\": {\"type\": [\"null\", \"string\"], \"readOnly\": true, \"description\": \"md5 hash o"
	"f image contents.\", \"maxLength\": 32}, \"os_hash_algo\": {\"type\": [\"null\", \"strin"
	"g\"], \"readOnly\": true, \"description\": \"Algorithm to calculate the os_hash_value\","
	" \"maxLength\": 64}, \"os_hash_value\": {\"type\": [\"null\", \"string\"], \"readOnly\":"
	" true, \"description\": \"Hexdigest of the image contents using the algorithm specified "
	"by the os_hash_algo\", \"maxLength\": 128}, \"owner\": {\"type\": [\"null\", \"string\"]"
	", \"description\": \"Owner of the image\", \"maxLength\": 255}, \"size\": {\"type\": [\""
	"null\", \"integer\"], \"readOnly\": true, \"description\": \"Size of image file in bytes"
	"\"}, \"virtual_size\": {\"type\": [\"null\", \"integer\"], \"readOnly\": true, \"descrip"
	"tion\": \"Virtual size of image in bytes\"}, \"container_format\": {\"type\": [\"null\","
	" \"string\"], \"description\": \"Format of the container\", \"enum\": [null, \"ami\", \""
	"ari\", \"aki\", \"bare\", \"ovf\", \"ova\", \"docker\", \"compressed\"]}, \"disk_format\""
	": {\"type\": [\"null\", \"string\"], \"description\": \"Format of the disk\", \"enum\": "
	"[null, \"ami\", \"ari\", \"aki\", \"vhd\", \"vhdx\", \"vmdk\", \"raw\", \"qcow2\", \"vdi"
	"\", \"iso\", \"ploop\"]}, \"created_at\": {\"type\": \"string\", \"readOnly\": true, \"d"
	"escription\": \"Date and time of image registration\"}, \"updated_at\": {\"type\": \"str"
	"ing\", \"readOnly\": true, \"description\": \"Date and time of the last image modificati"
	"on\"}, \"tags\": {\"type\": \"array\", \"description\": \"List of strings related to the"
	" image\", \"items\": {\"type\": \"string\", \"maxLength\": 255}}, \"direct_url\": {\"typ"
	"e\": \"string\", \"readOnly\": true, \"description\": \"URL to access the image file kep"
	"t in external store\"}, \"min_ram\": {\"type\": \"integer\", \"description\": \"Amount o"
	"f ram (in MB) required to boot image.\"}, \"min_disk\": {\"type\": \"integer\", \"descri"
	"ption\": \"Amount of disk space (in GB) required to boot image.\"}, \"self\": {\"type\":"
	" \"string\", \"readOnly\": true, \"description\": \"An image self url\"}, \"file\": {\"t"
	"ype\": \"string\", \"readOnly\": true, \"description\": \"An image file url\"}, \"stores"
	"\": {\"type\": \"string\", \"readOnly\": true, \"description\": \"Store in which image d"
	"ata resides.  Only present when the operator has enabled multiple stores.  May be a comm"
	"a-separated list of store identifiers.\"}, \"schema\": {\"type\": \"string\", \"readOnly"
	"\": true, \"description\": \"An image schema url\"}, \"locations\": {\"type\": \"array\""
	", \"items\": {\"type\": \"object\", \"properties\": {\"url\": {\"type\": \"string\", \"m"
	"axLength\": 255}, \"metadata\": {\"type\": \"object\"}, \"validation_data\": {\"descript"
	"ion\": \"Values to be used to populate the corresponding image properties. If the image "
	"status is not 'queued', values must exactly match those already contained in the image p"
	"roperties.\", \"type\": \"object\", \"writeOnly\": true, \"additionalProperties\": false"
	", \"properties\": {\"checksum\": {\"type\": \"string\", \"minLength\": 32, \"maxLength\""
	": 32}, \"os_hash_algo\": {\"type\": \"string\", \"maxLength\": 64}, \"os_hash_value\": {"
	"\"type\": \"string\", \"maxLength\": 128}}, \"required\": [\"os_hash_algo\", \"os_hash_v"
	"alue\"]}}, \"required\": [\"url\", \"metadata\"]}, \"description\": \"A set of URLs to a"
	"ccess the image file kept in external store\"}, \"kernel_id\": {\"type\": [\"null\", \"s"
	"tring\"], \"pattern\": \"^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F"
	"]){4}-([0-9a-fA-F]){12}$\", \"description\": \"ID of image stored in Glance that should "
	"be used as the kernel when booting an AMI-style image.\", \"is_base\": false}, \"ramdisk"
	"_id\": {\"type\": [\"null\", \"string\"], \"pattern\": \"^([0-9a-fA-F]){8}-([0-9a-fA-F])"
	"{4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$\", \"description\": \"ID of ima"
	"ge stored in Glance that should be used as the ramdisk when booting an AMI-style image.\""
	", \"is_base\": false}, \"instance_uuid\": {\"type\": \"string\", \"description\": \"Meta"
	"data which can be used to record which instance this image is associated with. (Informat"
	"ional only, does not create an instance snapshot.)\", \"is_base\": false}, \"architectur"
	"e\": {\"description\": \"Operating system architecture as specified in https://docs.open"
	"stack.org/python-glanceclient/latest/cli/property-keys.html\", \"type\": \"string\", \"i"
	"s_base\": false}, \"os_distro\": {\"description\": \"Common name of operating system dis"
	"tribution as specified in https://docs.openstack.org/python-glanceclient/latest/cli/prop"
	"erty-keys.html\", \"type\": \"string\", \"is_base\": false}, \"os_version\": {\"descript"
	"ion\": \"Operating system version as specified by the distributor.\", \"type\": \"string"
	"\", \"is_base\": false}, \"description\": {\"description\": \"A human-readable string de"
	"scribing this image.\", \"type\": \"string\", \"is_base\": false}, \"cinder_encryption_k"
	"ey_id\": {\"description\": \"Identifier in the OpenStack Key Management Service for the "
	"encryption key for the Block Storage Service to use when mounting a volume created from "
	"this image\", \"type\": \"string\", \"is_base\": false}, \"cinder_encryption_key_deletio"
	"n_policy\": {\"description\": \"States the condition under which the Image Service will "
	"delete the object associated with the 'cinder_encryption_key_id' image property.  If thi"
	"s property is missing, the Image Service will take no action\", \"type\": \"string\", \""
	"enum\": [\"on_image_deletion\", \"do_not_delete\"], \"is_base\": false}}, \"additionalPr"
	"operties\": {\"type\": \"string\"}, \"links\": [{\"rel\": \"self\", \"href\": \"{self}\""
	"}, {\"rel\": \"enclosure\", \"href\": \"{file}\"}, {\"rel\": \"describedby\", \"href\": "
	"\"{schema}\"}]}}, \"first\": {\"type\": \"string\"}, \"next\": {\"type\": \"string\"}, \""
	"schema\": {\"type\": \"string\"}}, \"links\": [{\"rel\": \"first\", \"href\": \"{first}\""
	"}, {\"rel\": \"next\", \"href\": \"{next}\"}, {\"rel\": \"describedby\", \"href\": \"{sc"
	"hema}\"}]}"
;

/* GET /v2/schemas/member */
static const char schema_member[] =
	"{\"name\": \"member\", \"properties\": {\"member_id\": {\"type\": \"string\", \"descript"
	"ion\": \"An identifier for the image member (tenantId)\"}, \"image_id\": {\"type\": \"st"
	"ring\", \"description\": \"An identifier for the image\", \"pattern\": \"^([0-9a-fA-F]){"
	"8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$\"}, \"created_a"
	"t\": {\"type\": \"string\", \"description\": \"Date and time of image member creation\"}"
	", \"updated_at\": {\"type\": \"string\", \"description\": \"Date and time of last modifi"
	"cation of image member\"}, \"status\": {\"type\": \"string\", \"description\": \"The sta"
	"tus of this image member\", \"enum\": [\"pending\", \"accepted\", \"rejected\"]}, \"sche"
	"ma\": {\"readOnly\": true, \"type\": \"string\"}}}"
;

/* GET /v2/schemas/members */
static const char schema_members[] =
	"{\"name\": \"members\", \"properties\": {\"members\": {\"type\": \"array\", \"items\": {"
	"\"name\": \"member\", \"properties\": {\"member_id\": {\"type\": \"string\", \"descripti"
	"on\": \"An identifier for the image member (tenantId)\"}, \"image_id\": {\"type\": \"str"
	"ing\", \"description\": \"An identifier for the image\", \"pattern\": \"^([0-9a-fA-F]){8"
	"}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$\"}, \"created_at"
	"\": {\"type\": \"string\", \"description\": \"Date and time of image member creation\"},"
	" \"updated_at\": {\"type\": \"string\", \"description\": \"Date and time of last modific"
	"ation of image member\"}, \"status\": {\"type\": \"string\", \"description\": \"The stat"
	"us of this image member\", \"enum\": [\"pending\", \"accepted\", \"rejected\"]}, \"schem"
	"a\": {\"readOnly\": true, \"type\": \"string\"}}}}, \"schema\": {\"type\": \"string\"}},"
	" \"links\": [{\"rel\": \"describedby\", \"href\": \"{schema}\"}]}"
;

/* GET /v2/schemas/metadefs/... (Glance's metadef_*.py get_schema and
 * get_collection_schema) */
static const char schema_md_namespace[] =
	"{\"name\": \"namespace\", \"properties\": {\"namespace\": {\"type\": \"string\", \"descr"
	"iption\": \"The unique namespace text.\", \"maxLength\": 80}, \"display_name\": {\"type\""
	": \"string\", \"description\": \"The user friendly name for the namespace. Used by UI if"
	" available.\", \"maxLength\": 80}, \"description\": {\"type\": \"string\", \"description"
	"\": \"Provides a user friendly description of the namespace.\", \"maxLength\": 500}, \"v"
	"isibility\": {\"type\": \"string\", \"description\": \"Scope of namespace accessibility."
	"\", \"enum\": [\"public\", \"private\"]}, \"protected\": {\"type\": \"boolean\", \"descr"
	"iption\": \"If true, namespace will not be deletable.\"}, \"owner\": {\"type\": \"string"
	"\", \"description\": \"Owner of the namespace.\", \"maxLength\": 255}, \"created_at\": {"
	"\"type\": \"string\", \"readOnly\": true, \"description\": \"Date and time of namespace "
	"creation\", \"format\": \"date-time\"}, \"updated_at\": {\"type\": \"string\", \"readOnl"
	"y\": true, \"description\": \"Date and time of the last namespace modification\", \"form"
	"at\": \"date-time\"}, \"schema\": {\"readOnly\": true, \"type\": \"string\"}, \"self\": "
	"{\"readOnly\": true, \"type\": \"string\"}, \"resource_type_associations\": {\"type\": \""
	"array\", \"items\": {\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"strin"
	"g\"}, \"prefix\": {\"type\": \"string\"}, \"properties_target\": {\"type\": \"string\"}}"
	"}}, \"properties\": {\"$ref\": \"#/definitions/property\"}, \"objects\": {\"type\": \"ar"
	"ray\", \"items\": {\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\""
	"}, \"description\": {\"type\": \"string\"}, \"required\": {\"$ref\": \"#/definitions/str"
	"ingArray\"}, \"properties\": {\"$ref\": \"#/definitions/property\"}}}}, \"tags\": {\"typ"
	"e\": \"array\", \"items\": {\"type\": \"object\", \"properties\": {\"name\": {\"type\": "
	"\"string\"}}}}}, \"additionalProperties\": false, \"definitions\": {\"positiveInteger\":"
	" {\"type\": \"integer\", \"minimum\": 0}, \"positiveIntegerDefault0\": {\"allOf\": [{\"$"
	"ref\": \"#/definitions/positiveInteger\"}, {\"default\": 0}]}, \"stringArray\": {\"type\""
	": \"array\", \"items\": {\"type\": \"string\"}, \"uniqueItems\": true}, \"property\": {\""
	"type\": \"object\", \"additionalProperties\": {\"type\": \"object\", \"required\": [\"ti"
	"tle\", \"type\"], \"properties\": {\"name\": {\"type\": \"string\", \"maxLength\": 80}, "
	"\"title\": {\"type\": \"string\"}, \"description\": {\"type\": \"string\"}, \"operators\""
	": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}, \"type\": {\"type\": \"strin"
	"g\", \"enum\": [\"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\","
	" null]}, \"required\": {\"$ref\": \"#/definitions/stringArray\"}, \"minimum\": {\"type\""
	": \"number\"}, \"maximum\": {\"type\": \"number\"}, \"maxLength\": {\"$ref\": \"#/defini"
	"tions/positiveInteger\"}, \"minLength\": {\"$ref\": \"#/definitions/positiveIntegerDefau"
	"lt0\"}, \"pattern\": {\"type\": \"string\", \"format\": \"regex\"}, \"enum\": {\"type\":"
	" \"array\"}, \"readonly\": {\"type\": \"boolean\"}, \"default\": {}, \"items\": {\"type\""
	": \"object\", \"properties\": {\"type\": {\"type\": \"string\", \"enum\": [\"array\", \""
	"boolean\", \"integer\", \"number\", \"object\", \"string\", null]}, \"enum\": {\"type\":"
	" \"array\"}}}, \"maxItems\": {\"$ref\": \"#/definitions/positiveInteger\"}, \"minItems\""
	": {\"$ref\": \"#/definitions/positiveIntegerDefault0\"}, \"uniqueItems\": {\"type\": \"b"
	"oolean\", \"default\": false}, \"additionalItems\": {\"type\": \"boolean\"}}}}}, \"requi"
	"red\": [\"namespace\"]}"
;

static const char schema_md_namespaces[] =
	"{\"name\": \"namespaces\", \"properties\": {\"namespaces\": {\"type\": \"array\", \"item"
	"s\": {\"name\": \"namespace\", \"properties\": {\"namespace\": {\"type\": \"string\", \""
	"description\": \"The unique namespace text.\", \"maxLength\": 80}, \"display_name\": {\""
	"type\": \"string\", \"description\": \"The user friendly name for the namespace. Used by"
	" UI if available.\", \"maxLength\": 80}, \"description\": {\"type\": \"string\", \"descr"
	"iption\": \"Provides a user friendly description of the namespace.\", \"maxLength\": 500"
	"}, \"visibility\": {\"type\": \"string\", \"description\": \"Scope of namespace accessib"
	"ility.\", \"enum\": [\"public\", \"private\"]}, \"protected\": {\"type\": \"boolean\", \""
	"description\": \"If true, namespace will not be deletable.\"}, \"owner\": {\"type\": \"s"
	"tring\", \"description\": \"Owner of the namespace.\", \"maxLength\": 255}, \"created_at"
	"\": {\"type\": \"string\", \"readOnly\": true, \"description\": \"Date and time of names"
	"pace creation\", \"format\": \"date-time\"}, \"updated_at\": {\"type\": \"string\", \"re"
	"adOnly\": true, \"description\": \"Date and time of the last namespace modification\", \""
	"format\": \"date-time\"}, \"schema\": {\"readOnly\": true, \"type\": \"string\"}, \"self"
	"\": {\"readOnly\": true, \"type\": \"string\"}, \"resource_type_associations\": {\"type\""
	": \"array\", \"items\": {\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"s"
	"tring\"}, \"prefix\": {\"type\": \"string\"}, \"properties_target\": {\"type\": \"string"
	"\"}}}}, \"properties\": {\"$ref\": \"#/definitions/property\"}, \"objects\": {\"type\": "
	"\"array\", \"items\": {\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"str"
	"ing\"}, \"description\": {\"type\": \"string\"}, \"required\": {\"$ref\": \"#/definition"
	"s/stringArray\"}, \"properties\": {\"$ref\": \"#/definitions/property\"}}}}, \"tags\": {"
	"\"type\": \"array\", \"items\": {\"type\": \"object\", \"properties\": {\"name\": {\"typ"
	"e\": \"string\"}}}}}, \"additionalProperties\": false, \"required\": [\"namespace\"]}}, "
	"\"first\": {\"type\": \"string\"}, \"next\": {\"type\": \"string\"}, \"schema\": {\"type"
	"\": \"string\"}}, \"links\": [{\"rel\": \"first\", \"href\": \"{first}\"}, {\"rel\": \"n"
	"ext\", \"href\": \"{next}\"}, {\"rel\": \"describedby\", \"href\": \"{schema}\"}], \"def"
	"initions\": {\"positiveInteger\": {\"type\": \"integer\", \"minimum\": 0}, \"positiveInt"
	"egerDefault0\": {\"allOf\": [{\"$ref\": \"#/definitions/positiveInteger\"}, {\"default\""
	": 0}]}, \"stringArray\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}, \"uniq"
	"ueItems\": true}, \"property\": {\"type\": \"object\", \"additionalProperties\": {\"type"
	"\": \"object\", \"required\": [\"title\", \"type\"], \"properties\": {\"name\": {\"type\""
	": \"string\", \"maxLength\": 80}, \"title\": {\"type\": \"string\"}, \"description\": {\""
	"type\": \"string\"}, \"operators\": {\"type\": \"array\", \"items\": {\"type\": \"string"
	"\"}}, \"type\": {\"type\": \"string\", \"enum\": [\"array\", \"boolean\", \"integer\", \""
	"number\", \"object\", \"string\", null]}, \"required\": {\"$ref\": \"#/definitions/strin"
	"gArray\"}, \"minimum\": {\"type\": \"number\"}, \"maximum\": {\"type\": \"number\"}, \"m"
	"axLength\": {\"$ref\": \"#/definitions/positiveInteger\"}, \"minLength\": {\"$ref\": \"#"
	"/definitions/positiveIntegerDefault0\"}, \"pattern\": {\"type\": \"string\", \"format\":"
	" \"regex\"}, \"enum\": {\"type\": \"array\"}, \"readonly\": {\"type\": \"boolean\"}, \"d"
	"efault\": {}, \"items\": {\"type\": \"object\", \"properties\": {\"type\": {\"type\": \""
	"string\", \"enum\": [\"array\", \"boolean\", \"integer\", \"number\", \"object\", \"stri"
	"ng\", null]}, \"enum\": {\"type\": \"array\"}}}, \"maxItems\": {\"$ref\": \"#/definition"
	"s/positiveInteger\"}, \"minItems\": {\"$ref\": \"#/definitions/positiveIntegerDefault0\""
	"}, \"uniqueItems\": {\"type\": \"boolean\", \"default\": false}, \"additionalItems\": {\""
	"type\": \"boolean\"}}}}}}"
;

static const char schema_md_resource_type[] =
	"{\"name\": \"resource_type_association\", \"properties\": {\"name\": {\"type\": \"string"
	"\", \"description\": \"Resource type names should be aligned with Heat resource types wh"
	"enever possible: https://docs.openstack.org/heat/latest/template_guide/openstack.html\","
	" \"maxLength\": 80}, \"prefix\": {\"type\": \"string\", \"description\": \"Specifies the"
	" prefix to use for the given resource type. Any properties in the namespace should be pr"
	"efixed with this prefix when being applied to the specified resource type. Must include "
	"prefix separator (e.g. a colon :).\", \"maxLength\": 80}, \"properties_target\": {\"type"
	"\": \"string\", \"description\": \"Some resource types allow more than one key / value p"
	"air per instance.  For example, Cinder allows user and image metadata on volumes. Only t"
	"he image properties metadata is evaluated by Nova (scheduling or drivers). This property"
	" allows a namespace target to remove the ambiguity.\", \"maxLength\": 80}, \"created_at\""
	": {\"type\": \"string\", \"readOnly\": true, \"description\": \"Date and time of resourc"
	"e type association\", \"format\": \"date-time\"}, \"updated_at\": {\"type\": \"string\","
	" \"readOnly\": true, \"description\": \"Date and time of the last resource type associat"
	"ion modification\", \"format\": \"date-time\"}}, \"additionalProperties\": false, \"requ"
	"ired\": [\"name\"]}"
;

static const char schema_md_resource_types[] =
	"{\"name\": \"resource_type_associations\", \"properties\": {\"resource_type_associations"
	"\": {\"type\": \"array\", \"items\": {\"name\": \"resource_type_association\", \"propert"
	"ies\": {\"name\": {\"type\": \"string\", \"description\": \"Resource type names should b"
	"e aligned with Heat resource types whenever possible: https://docs.openstack.org/heat/la"
	"test/template_guide/openstack.html\", \"maxLength\": 80}, \"prefix\": {\"type\": \"strin"
	"g\", \"description\": \"Specifies the prefix to use for the given resource type. Any pro"
	"perties in the namespace should be prefixed with this prefix when being applied to the s"
	"pecified resource type. Must include prefix separator (e.g. a colon :).\", \"maxLength\""
	": 80}, \"properties_target\": {\"type\": \"string\", \"description\": \"Some resource ty"
	"pes allow more than one key / value pair per instance.  For example, Cinder allows user "
	"and image metadata on volumes. Only the image properties metadata is evaluated by Nova ("
	"scheduling or drivers). This property allows a namespace target to remove the ambiguity."
	"\", \"maxLength\": 80}, \"created_at\": {\"type\": \"string\", \"readOnly\": true, \"des"
	"cription\": \"Date and time of resource type association\", \"format\": \"date-time\"}, "
	"\"updated_at\": {\"type\": \"string\", \"readOnly\": true, \"description\": \"Date and t"
	"ime of the last resource type association modification\", \"format\": \"date-time\"}}, \""
	"additionalProperties\": false, \"required\": [\"name\"]}}, \"first\": {\"type\": \"strin"
	"g\"}, \"next\": {\"type\": \"string\"}, \"schema\": {\"type\": \"string\"}}, \"links\": "
	"[{\"rel\": \"first\", \"href\": \"{first}\"}, {\"rel\": \"next\", \"href\": \"{next}\"},"
	" {\"rel\": \"describedby\", \"href\": \"{schema}\"}]}"
;

static const char schema_md_property[] =
	"{\"name\": \"property\", \"properties\": {\"name\": {\"type\": \"string\", \"maxLength\""
	": 80}, \"title\": {\"type\": \"string\"}, \"description\": {\"type\": \"string\"}, \"ope"
	"rators\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}, \"type\": {\"type\":"
	" \"string\", \"enum\": [\"array\", \"boolean\", \"integer\", \"number\", \"object\", \"s"
	"tring\", null]}, \"required\": {\"$ref\": \"#/definitions/stringArray\"}, \"minimum\": {"
	"\"type\": \"number\"}, \"maximum\": {\"type\": \"number\"}, \"maxLength\": {\"$ref\": \""
	"#/definitions/positiveInteger\"}, \"minLength\": {\"$ref\": \"#/definitions/positiveInte"
	"gerDefault0\"}, \"pattern\": {\"type\": \"string\", \"format\": \"regex\"}, \"enum\": {\""
	"type\": \"array\"}, \"readonly\": {\"type\": \"boolean\"}, \"default\": {}, \"items\": {"
	"\"type\": \"object\", \"properties\": {\"type\": {\"type\": \"string\", \"enum\": [\"arr"
	"ay\", \"boolean\", \"integer\", \"number\", \"object\", \"string\", null]}, \"enum\": {\""
	"type\": \"array\"}}}, \"maxItems\": {\"$ref\": \"#/definitions/positiveInteger\"}, \"min"
	"Items\": {\"$ref\": \"#/definitions/positiveIntegerDefault0\"}, \"uniqueItems\": {\"type"
	"\": \"boolean\", \"default\": false}, \"additionalItems\": {\"type\": \"boolean\"}}, \"a"
	"dditionalProperties\": false, \"definitions\": {\"positiveInteger\": {\"type\": \"intege"
	"r\", \"minimum\": 0}, \"positiveIntegerDefault0\": {\"allOf\": [{\"$ref\": \"#/definitio"
	"ns/positiveInteger\"}, {\"default\": 0}]}, \"stringArray\": {\"type\": \"array\", \"item"
	"s\": {\"type\": \"string\"}, \"minItems\": 1, \"uniqueItems\": true}}, \"required\": [\""
	"type\", \"title\", \"name\"]}"
;

static const char schema_md_properties[] =
	"{\"name\": \"properties\", \"properties\": {\"properties\": {\"type\": \"object\", \"add"
	"itionalProperties\": {\"name\": \"property\", \"properties\": {\"name\": {\"type\": \"st"
	"ring\", \"maxLength\": 80}, \"title\": {\"type\": \"string\"}, \"description\": {\"type\""
	": \"string\"}, \"operators\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}, "
	"\"type\": {\"type\": \"string\", \"enum\": [\"array\", \"boolean\", \"integer\", \"numbe"
	"r\", \"object\", \"string\", null]}, \"required\": {\"$ref\": \"#/definitions/stringArra"
	"y\"}, \"minimum\": {\"type\": \"number\"}, \"maximum\": {\"type\": \"number\"}, \"maxLen"
	"gth\": {\"$ref\": \"#/definitions/positiveInteger\"}, \"minLength\": {\"$ref\": \"#/defi"
	"nitions/positiveIntegerDefault0\"}, \"pattern\": {\"type\": \"string\", \"format\": \"re"
	"gex\"}, \"enum\": {\"type\": \"array\"}, \"readonly\": {\"type\": \"boolean\"}, \"defaul"
	"t\": {}, \"items\": {\"type\": \"object\", \"properties\": {\"type\": {\"type\": \"strin"
	"g\", \"enum\": [\"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\","
	" null]}, \"enum\": {\"type\": \"array\"}}}, \"maxItems\": {\"$ref\": \"#/definitions/pos"
	"itiveInteger\"}, \"minItems\": {\"$ref\": \"#/definitions/positiveIntegerDefault0\"}, \""
	"uniqueItems\": {\"type\": \"boolean\", \"default\": false}, \"additionalItems\": {\"type"
	"\": \"boolean\"}}, \"additionalProperties\": false, \"required\": [\"type\", \"title\"]}"
	"}, \"first\": {\"type\": \"string\"}, \"next\": {\"type\": \"string\"}, \"schema\": {\"t"
	"ype\": \"string\"}}, \"links\": [{\"rel\": \"first\", \"href\": \"{first}\"}, {\"rel\": "
	"\"next\", \"href\": \"{next}\"}, {\"rel\": \"describedby\", \"href\": \"{schema}\"}], \""
	"definitions\": {\"positiveInteger\": {\"type\": \"integer\", \"minimum\": 0}, \"positive"
	"IntegerDefault0\": {\"allOf\": [{\"$ref\": \"#/definitions/positiveInteger\"}, {\"defaul"
	"t\": 0}]}, \"stringArray\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}, \"m"
	"inItems\": 1, \"uniqueItems\": true}}}"
;

static const char schema_md_object[] =
	"{\"name\": \"object\", \"properties\": {\"name\": {\"type\": \"string\", \"maxLength\": "
	"80}, \"description\": {\"type\": \"string\"}, \"required\": {\"$ref\": \"#/definitions/s"
	"tringArray\"}, \"properties\": {\"$ref\": \"#/definitions/property\"}, \"schema\": {\"re"
	"adOnly\": true, \"type\": \"string\"}, \"self\": {\"readOnly\": true, \"type\": \"string"
	"\"}, \"created_at\": {\"type\": \"string\", \"readOnly\": true, \"description\": \"Date "
	"and time of object creation\", \"format\": \"date-time\"}, \"updated_at\": {\"type\": \""
	"string\", \"readOnly\": true, \"description\": \"Date and time of the last object modifi"
	"cation\", \"format\": \"date-time\"}}, \"additionalProperties\": false, \"definitions\":"
	" {\"positiveInteger\": {\"type\": \"integer\", \"minimum\": 0}, \"positiveIntegerDefault"
	"0\": {\"allOf\": [{\"$ref\": \"#/definitions/positiveInteger\"}, {\"default\": 0}]}, \"s"
	"tringArray\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}, \"uniqueItems\": "
	"true}, \"property\": {\"type\": \"object\", \"additionalProperties\": {\"type\": \"objec"
	"t\", \"required\": [\"title\", \"type\"], \"properties\": {\"name\": {\"type\": \"string"
	"\", \"maxLength\": 80}, \"title\": {\"type\": \"string\"}, \"description\": {\"type\": \""
	"string\"}, \"operators\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}, \"ty"
	"pe\": {\"type\": \"string\", \"enum\": [\"array\", \"boolean\", \"integer\", \"number\","
	" \"object\", \"string\", null]}, \"required\": {\"$ref\": \"#/definitions/stringArray\"}"
	", \"minimum\": {\"type\": \"number\"}, \"maximum\": {\"type\": \"number\"}, \"maxLength\""
	": {\"$ref\": \"#/definitions/positiveInteger\"}, \"minLength\": {\"$ref\": \"#/definitio"
	"ns/positiveIntegerDefault0\"}, \"pattern\": {\"type\": \"string\", \"format\": \"regex\""
	"}, \"enum\": {\"type\": \"array\"}, \"readonly\": {\"type\": \"boolean\"}, \"default\": "
	"{}, \"items\": {\"type\": \"object\", \"properties\": {\"type\": {\"type\": \"string\", "
	"\"enum\": [\"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\", null"
	"]}, \"enum\": {\"type\": \"array\"}}}, \"maxItems\": {\"$ref\": \"#/definitions/positive"
	"Integer\"}, \"minItems\": {\"$ref\": \"#/definitions/positiveIntegerDefault0\"}, \"uniqu"
	"eItems\": {\"type\": \"boolean\", \"default\": false}, \"additionalItems\": {\"type\": \""
	"boolean\"}}}}}, \"required\": [\"name\"]}"
;

static const char schema_md_objects[] =
	"{\"name\": \"objects\", \"properties\": {\"objects\": {\"type\": \"array\", \"items\": {"
	"\"name\": \"object\", \"properties\": {\"name\": {\"type\": \"string\", \"maxLength\": 8"
	"0}, \"description\": {\"type\": \"string\"}, \"required\": {\"$ref\": \"#/definitions/st"
	"ringArray\"}, \"properties\": {\"$ref\": \"#/definitions/property\"}, \"schema\": {\"rea"
	"dOnly\": true, \"type\": \"string\"}, \"self\": {\"readOnly\": true, \"type\": \"string\""
	"}, \"created_at\": {\"type\": \"string\", \"readOnly\": true, \"description\": \"Date an"
	"d time of object creation\", \"format\": \"date-time\"}, \"updated_at\": {\"type\": \"st"
	"ring\", \"readOnly\": true, \"description\": \"Date and time of the last object modifica"
	"tion\", \"format\": \"date-time\"}}, \"additionalProperties\": false, \"required\": [\"n"
	"ame\"]}}, \"first\": {\"type\": \"string\"}, \"next\": {\"type\": \"string\"}, \"schema\""
	": {\"type\": \"string\"}}, \"links\": [{\"rel\": \"first\", \"href\": \"{first}\"}, {\"r"
	"el\": \"next\", \"href\": \"{next}\"}, {\"rel\": \"describedby\", \"href\": \"{schema}\""
	"}], \"definitions\": {\"positiveInteger\": {\"type\": \"integer\", \"minimum\": 0}, \"po"
	"sitiveIntegerDefault0\": {\"allOf\": [{\"$ref\": \"#/definitions/positiveInteger\"}, {\""
	"default\": 0}]}, \"stringArray\": {\"type\": \"array\", \"items\": {\"type\": \"string\""
	"}, \"uniqueItems\": true}, \"property\": {\"type\": \"object\", \"additionalProperties\""
	": {\"type\": \"object\", \"required\": [\"title\", \"type\"], \"properties\": {\"name\":"
	" {\"type\": \"string\", \"maxLength\": 80}, \"title\": {\"type\": \"string\"}, \"descrip"
	"tion\": {\"type\": \"string\"}, \"operators\": {\"type\": \"array\", \"items\": {\"type\""
	": \"string\"}}, \"type\": {\"type\": \"string\", \"enum\": [\"array\", \"boolean\", \"in"
	"teger\", \"number\", \"object\", \"string\", null]}, \"required\": {\"$ref\": \"#/defini"
	"tions/stringArray\"}, \"minimum\": {\"type\": \"number\"}, \"maximum\": {\"type\": \"num"
	"ber\"}, \"maxLength\": {\"$ref\": \"#/definitions/positiveInteger\"}, \"minLength\": {\""
	"$ref\": \"#/definitions/positiveIntegerDefault0\"}, \"pattern\": {\"type\": \"string\", "
	"\"format\": \"regex\"}, \"enum\": {\"type\": \"array\"}, \"readonly\": {\"type\": \"bool"
	"ean\"}, \"default\": {}, \"items\": {\"type\": \"object\", \"properties\": {\"type\": {\""
	"type\": \"string\", \"enum\": [\"array\", \"boolean\", \"integer\", \"number\", \"object"
	"\", \"string\", null]}, \"enum\": {\"type\": \"array\"}}}, \"maxItems\": {\"$ref\": \"#/"
	"definitions/positiveInteger\"}, \"minItems\": {\"$ref\": \"#/definitions/positiveInteger"
	"Default0\"}, \"uniqueItems\": {\"type\": \"boolean\", \"default\": false}, \"additionalI"
	"tems\": {\"type\": \"boolean\"}}}}}}"
;

static const char schema_md_tag[] =
	"{\"name\": \"tag\", \"properties\": {\"name\": {\"type\": \"string\", \"maxLength\": 80}"
	", \"created_at\": {\"type\": \"string\", \"readOnly\": true, \"description\": \"Date and"
	" time of tag creation\", \"format\": \"date-time\"}, \"updated_at\": {\"type\": \"string"
	"\", \"readOnly\": true, \"description\": \"Date and time of the last tag modification\","
	" \"format\": \"date-time\"}}, \"additionalProperties\": false, \"required\": [\"name\"]}"
;

static const char schema_md_tags[] =
	"{\"name\": \"tags\", \"properties\": {\"tags\": {\"type\": \"array\", \"items\": {\"name"
	"\": \"tag\", \"properties\": {\"name\": {\"type\": \"string\", \"maxLength\": 80}, \"cre"
	"ated_at\": {\"type\": \"string\", \"readOnly\": true, \"description\": \"Date and time o"
	"f tag creation\", \"format\": \"date-time\"}, \"updated_at\": {\"type\": \"string\", \"r"
	"eadOnly\": true, \"description\": \"Date and time of the last tag modification\", \"form"
	"at\": \"date-time\"}}, \"additionalProperties\": false, \"required\": [\"name\"]}}, \"fi"
	"rst\": {\"type\": \"string\"}, \"next\": {\"type\": \"string\"}, \"schema\": {\"type\": "
	"\"string\"}}, \"links\": [{\"rel\": \"first\", \"href\": \"{first}\"}, {\"rel\": \"next\""
	", \"href\": \"{next}\"}, {\"rel\": \"describedby\", \"href\": \"{schema}\"}]}"
;

static json_t *image_schema;        /* schema_image parsed: the validator's */
static pthread_once_t schema_once = PTHREAD_ONCE_INIT;

static void load_schema(void)
{
	json_error_t e;
	image_schema = json_loads(schema_image, 0, &e);
	if (!image_schema)
		klog_error("image", "the image schema does not parse: %s", e.text);
}

/* ------------------------------------------------------------------------ */
/* Python's repr() and pprint.pformat(width=72) of JSON values, for error
 * messages worded as Glance's (jsonschema's) are. */

typedef struct pbuf {
	char *s;
	size_t len, cap;
} pbuf;

static void pb_add(pbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 256) + n;
		char *p = realloc(b->s, cap);
		if (!p)
			abort();
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void pb_str(pbuf *b, const char *s)
{
	pb_add(b, s, strlen(s));
}

static void pb_free(pbuf *b)
{
	free(b->s);
}

/* Code points of UTF-8 text. */
static size_t u8len(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xC0) != 0x80;
	return c;
}

static void repr_str(pbuf *b, const char *s, size_t n)
{
	bool sq = memchr(s, '\'', n) != NULL, dq = memchr(s, '"', n) != NULL;
	char q = sq && !dq ? '"' : '\'';
	pb_add(b, &q, 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char tmp[8];
		if (c == '\\' || c == (unsigned char)q) {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			pb_add(b, tmp, 2);
		} else if (c == '\n') {
			pb_str(b, "\\n");
		} else if (c == '\r') {
			pb_str(b, "\\r");
		} else if (c == '\t') {
			pb_str(b, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(tmp, sizeof(tmp), "\\x%02x", c);
			pb_str(b, tmp);
		} else {
			pb_add(b, (const char *)&s[i], 1);
		}
	}
	pb_add(b, &q, 1);
}

static void repr_real(pbuf *b, double d)
{
	char tmp[64];
	if (d == (double)(int64_t)d && d < 1e16 && d > -1e16) {
		snprintf(tmp, sizeof(tmp), "%.1f", d);
	} else {
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
			if (strtod(tmp, NULL) == d)
				break;
		}
	}
	pb_str(b, tmp);
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keys of an object, sorted (pprint's order) or as stored. */
static const char **obj_keys(const json_t *o, bool sorted, size_t *n)
{
	*n = json_object_size(o);
	const char **k = calloc(*n + 1, sizeof(*k));
	if (!k)
		abort();
	size_t i = 0;
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)o, key, v)
		k[i++] = key;
	if (sorted)
		qsort(k, *n, sizeof(*k), key_cmp);
	return k;
}

static void py_repr(pbuf *b, const json_t *v, bool sorted)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		repr_str(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER: {
		char tmp[32];
		snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		pb_str(b, tmp);
		break;
	}
	case JSON_REAL:
		repr_real(b, json_real_value(v));
		break;
	case JSON_TRUE:
		pb_str(b, "True");
		break;
	case JSON_FALSE:
		pb_str(b, "False");
		break;
	case JSON_NULL:
		pb_str(b, "None");
		break;
	case JSON_ARRAY: {
		pb_str(b, "[");
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e) {
			if (i)
				pb_str(b, ", ");
			py_repr(b, e, sorted);
		}
		pb_str(b, "]");
		break;
	}
	case JSON_OBJECT: {
		size_t n;
		_cleanup_free_ const char **keys = obj_keys(v, sorted, &n);
		pb_str(b, "{");
		for (size_t i = 0; i < n; i++) {
			if (i)
				pb_str(b, ", ");
			repr_str(b, keys[i], strlen(keys[i]));
			pb_str(b, ": ");
			py_repr(b, json_object_get(v, keys[i]), sorted);
		}
		pb_str(b, "}");
		break;
	}
	}
}

static char *repr_dup(const json_t *v, bool sorted)
{
	pbuf b = { 0 };
	py_repr(&b, v, sorted);
	return b.s ? b.s : strdup("");
}

#define PP_WIDTH 72

static void pp_format(pbuf *b, const json_t *v, size_t indent, size_t allowance, int level);

static void pp_spaces(pbuf *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pb_add(b, " ", 1);
}

static void pp_str(pbuf *b, const char *s, size_t n, size_t indent, size_t allowance,
                   int level)
{
	/* pprint's _pprint_str: split at whitespace into chunks that fit */
	if (level == 1) {
		indent++;
		allowance++;
	}
	size_t max1 = PP_WIDTH > indent ? PP_WIDTH - indent : 0;
	size_t max = max1;
	max1 = max1 > allowance ? max1 - allowance : 0;
	pbuf chunks = { 0 };
	size_t nchunks = 0;
	pbuf cur = { 0 };
	const char *p = s, *end = s + n;
	while (p < end) {
		/* one part: non-space then space */
		const char *q = p;
		while (q < end && !isspace((unsigned char)*q))
			q++;
		while (q < end && isspace((unsigned char)*q))
			q++;
		bool last = q >= end;
		pbuf cand = { 0 };
		if (cur.len)
			pb_add(&cand, cur.s, cur.len);
		pb_add(&cand, p, (size_t)(q - p));
		pbuf rc = { 0 };
		repr_str(&rc, cand.s, cand.len);
		size_t limit = last ? max1 : max;
		if (u8len(rc.s, rc.len) > limit && cur.len) {
			pbuf rcur = { 0 };
			repr_str(&rcur, cur.s, cur.len);
			if (nchunks++)
				pb_add(&chunks, "\n", 1);
			pb_add(&chunks, rcur.s, rcur.len);
			pb_free(&rcur);
			cur.len = 0;
			pb_add(&cur, p, (size_t)(q - p));
		} else {
			cur.len = 0;
			pb_add(&cur, cand.s, cand.len);
		}
		pb_free(&rc);
		pb_free(&cand);
		p = q;
	}
	if (cur.len) {
		pbuf rcur = { 0 };
		repr_str(&rcur, cur.s, cur.len);
		if (nchunks++)
			pb_add(&chunks, "\n", 1);
		pb_add(&chunks, rcur.s, rcur.len);
		pb_free(&rcur);
	}
	pb_free(&cur);
	if (nchunks <= 1) {
		repr_str(b, s, n);
		pb_free(&chunks);
		return;
	}
	if (level == 1)
		pb_str(b, "(");
	for (const char *c = chunks.s; c && *c;) {
		const char *nl = strchr(c, '\n');
		size_t len = nl ? (size_t)(nl - c) : strlen(c);
		if (c != chunks.s) {
			pb_str(b, "\n");
			pp_spaces(b, indent);
		}
		pb_add(b, c, len);
		c = nl ? nl + 1 : c + len;
	}
	if (level == 1)
		pb_str(b, ")");
	pb_free(&chunks);
}

static void pp_format(pbuf *b, const json_t *v, size_t indent, size_t allowance, int level)
{
	_cleanup_free_ char *rep = repr_dup(v, true);
	size_t rl = u8len(rep, strlen(rep));
	size_t width = PP_WIDTH > indent + allowance ? PP_WIDTH - indent - allowance : 0;
	if (rl <= width) {
		pb_str(b, rep);
		return;
	}
	level++;
	if (json_is_object(v) && json_object_size(v)) {
		size_t n;
		_cleanup_free_ const char **keys = obj_keys(v, true, &n);
		pb_str(b, "{");
		size_t in = indent + 1;
		for (size_t i = 0; i < n; i++) {
			bool last = i + 1 == n;
			pbuf k = { 0 };
			repr_str(&k, keys[i], strlen(keys[i]));
			pb_add(b, k.s, k.len);
			pb_str(b, ": ");
			pp_format(b, json_object_get(v, keys[i]), in + u8len(k.s, k.len) + 2,
			          last ? allowance + 1 : 1, level);
			pb_free(&k);
			if (!last) {
				pb_str(b, ",\n");
				pp_spaces(b, in);
			}
		}
		pb_str(b, "}");
	} else if (json_is_array(v) && json_array_size(v)) {
		pb_str(b, "[");
		size_t in = indent + 1, n = json_array_size(v);
		for (size_t i = 0; i < n; i++) {
			bool last = i + 1 == n;
			pp_format(b, json_array_get(v, i), in, last ? allowance + 1 : 1, level);
			if (!last) {
				pb_str(b, ",\n");
				pp_spaces(b, in);
			}
		}
		pb_str(b, "]");
	} else if (json_is_string(v)) {
		pp_str(b, json_string_value(v), json_string_length(v), indent, allowance, level);
	} else {
		pb_str(b, rep);
	}
}

/* pformat(v, width=72) with every line indented by four spaces. */
static void pp_indented(pbuf *b, const json_t *v)
{
	pbuf t = { 0 };
	pp_format(&t, v, 0, 0, 0);
	pb_str(b, "    ");
	for (size_t i = 0; i < t.len; i++) {
		pb_add(b, &t.s[i], 1);
		if (t.s[i] == '\n')
			pb_str(b, "    ");
	}
	pb_free(&t);
}

/* ------------------------------------------------------------------------ */
/* A JSON-schema validator for the keywords Glance's documents use. */

typedef struct verr {
	char *message;                 /* jsonschema's first line */
	const char *validator;         /* "type", "enum", ... */
	const json_t *schema;          /* the failing (sub)schema */
	const json_t *instance;
	pbuf spath, ipath;             /* "['properties']['name']", "['name']" */
} verr;

static void verr_free(verr *e)
{
	free(e->message);
	pb_free(&e->spath);
	pb_free(&e->ipath);
}

static bool type_is(const json_t *v, const char *t)
{
	if (!strcmp(t, "null"))
		return json_is_null(v);
	if (!strcmp(t, "string"))
		return json_is_string(v);
	if (!strcmp(t, "boolean"))
		return json_is_boolean(v);
	if (!strcmp(t, "array"))
		return json_is_array(v);
	if (!strcmp(t, "object"))
		return json_is_object(v);
	if (!strcmp(t, "number"))
		return json_is_number(v);
	if (!strcmp(t, "integer")) {
		double d = json_real_value(v);
		return json_is_integer(v) || (json_is_real(v) && d == (double)(int64_t)d);
	}
	return false;
}

static bool json_py_equal(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	return json_equal((json_t *)a, (json_t *)b);
}

static void path_key(pbuf *p, const char *key)
{
	pb_str(p, "[");
	repr_str(p, key, strlen(key));
	pb_str(p, "]");
}

static void path_index(pbuf *p, size_t i)
{
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "[%zu]", i);
	pb_str(p, tmp);
}

static bool fail(verr *e, const char *validator, const json_t *schema, const json_t *inst,
                 char *message)
{
	e->message = message;
	e->validator = validator;
	e->schema = schema;
	e->instance = inst;
	return false;
}

static char *msgf(const char *fmt, ...) _printf_(1, 2);
static char *msgf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s ? s : strdup("");
}

static bool validate(const json_t *inst, const json_t *schema, verr *e);

/* After a failure one level down: put this level's steps in front of the
 * paths ("['properties']['name']" + ..., "['name']" + ...). */
static bool nest(verr *e, const char *sstep, const char *skey, const char *ikey, size_t iidx)
{
	pbuf sp = { 0 }, ip = { 0 };
	pb_str(&sp, sstep);
	if (skey)
		path_key(&sp, skey);
	if (e->spath.s)
		pb_str(&sp, e->spath.s);
	if (ikey)
		path_key(&ip, ikey);
	else
		path_index(&ip, iidx);
	if (e->ipath.s)
		pb_str(&ip, e->ipath.s);
	pb_free(&e->spath);
	pb_free(&e->ipath);
	e->spath = sp;
	e->ipath = ip;
	return false;
}

static bool v_type(const json_t *inst, const json_t *val, const json_t *schema, verr *e)
{
	bool ok = false;
	size_t i;
	json_t *t;
	if (json_is_string(val))
		ok = type_is(inst, json_string_value(val));
	json_array_foreach(val, i, t)
		ok |= json_is_string(t) && type_is(inst, json_string_value(t));
	if (ok)
		return true;
	_cleanup_free_ char *ri = repr_dup(inst, false);
	pbuf types = { 0 };
	if (json_is_string(val))
		py_repr(&types, val, false);
	json_array_foreach(val, i, t) {
		if (i)
			pb_str(&types, ", ");
		py_repr(&types, t, false);
	}
	char *m = msgf("%s is not of type %s", ri, types.s ? types.s : "");
	pb_free(&types);
	return fail(e, "type", schema, inst, m);
}

static bool v_enum(const json_t *inst, const json_t *val, const json_t *schema, verr *e)
{
	size_t i;
	json_t *x;
	json_array_foreach(val, i, x)
		if (json_py_equal(inst, x))
			return true;
	_cleanup_free_ char *ri = repr_dup(inst, false);
	_cleanup_free_ char *re = repr_dup(val, false);
	return fail(e, "enum", schema, inst, msgf("%s is not one of %s", ri, re));
}

static bool v_length(const json_t *inst, const json_t *val, const json_t *schema, verr *e,
                     bool max)
{
	if (!json_is_string(inst) || !json_is_integer(val))
		return true;
	size_t n = u8len(json_string_value(inst), json_string_length(inst));
	size_t lim = (size_t)json_integer_value(val);
	if (max ? n <= lim : n >= lim)
		return true;
	_cleanup_free_ char *ri = repr_dup(inst, false);
	return fail(e, max ? "maxLength" : "minLength", schema, inst,
	            msgf(max ? "%s is too long" : "%s is too short", ri));
}

static bool v_pattern(const json_t *inst, const json_t *val, const json_t *schema, verr *e)
{
	regex_t re;
	if (!json_is_string(inst) || !json_is_string(val) ||
	    regcomp(&re, json_string_value(val), REG_EXTENDED | REG_NOSUB) != 0)
		return true;
	bool ok = regexec(&re, json_string_value(inst), 0, NULL, 0) == 0;
	regfree(&re);
	if (ok)
		return true;
	_cleanup_free_ char *ri = repr_dup(inst, false);
	_cleanup_free_ char *rp = repr_dup(val, false);
	return fail(e, "pattern", schema, inst, msgf("%s does not match %s", ri, rp));
}

static bool v_items(const json_t *inst, const json_t *val, verr *e)
{
	size_t i;
	json_t *x;
	if (!json_is_object(val))
		return true;
	json_array_foreach(inst, i, x)
		if (!validate(x, val, e))
			return nest(e, "['items']", NULL, NULL, i);
	return true;
}

static bool v_properties(const json_t *inst, const json_t *val, verr *e)
{
	const char *k;
	json_t *ps;
	if (!json_is_object(inst))
		return true;
	json_object_foreach((json_t *)val, k, ps) {
		json_t *x = json_object_get(inst, k);
		if (x && !validate(x, ps, e))
			return nest(e, "['properties']", k, k, 0);
	}
	return true;
}

static bool v_additional(const json_t *inst, const json_t *val, const json_t *schema, verr *e)
{
	json_t *props = json_object_get(schema, "properties");
	const char *k;
	json_t *x;
	if (!json_is_object(inst))
		return true;
	if (json_is_object(val)) {
		json_object_foreach((json_t *)inst, k, x)
			if (!json_object_get(props, k) && !validate(x, val, e))
				return nest(e, "['additionalProperties']", NULL, k, 0);
		return true;
	}
	if (!json_is_false(val))
		return true;
	pbuf extra = { 0 };
	size_t n = 0;
	json_object_foreach((json_t *)inst, k, x) {
		if (json_object_get(props, k))
			continue;
		if (n++)
			pb_str(&extra, ", ");
		repr_str(&extra, k, strlen(k));
	}
	if (!n)
		return true;
	char *m = msgf("Additional properties are not allowed (%s %s unexpected)", extra.s,
	               n == 1 ? "was" : "were");
	pb_free(&extra);
	return fail(e, "additionalProperties", schema, inst, m);
}

static bool v_required(const json_t *inst, const json_t *val, const json_t *schema, verr *e)
{
	size_t i;
	json_t *x;
	if (!json_is_object(inst))
		return true;
	json_array_foreach(val, i, x) {
		if (!json_is_string(x) || json_object_get(inst, json_string_value(x)))
			continue;
		_cleanup_free_ char *rk = repr_dup(x, false);
		return fail(e, "required", schema, inst, msgf("%s is a required property", rk));
	}
	return true;
}

/* Validate; on failure fill e (paths relative to the root) and return false.
 * Keywords are checked in the schema's order, as jsonschema reports the
 * first of them. */
static bool validate(const json_t *inst, const json_t *schema, verr *e)
{
	const char *kw;
	json_t *val;
	json_object_foreach((json_t *)schema, kw, val) {
		bool ok = true;
		if (!strcmp(kw, "type"))
			ok = v_type(inst, val, schema, e);
		else if (!strcmp(kw, "enum"))
			ok = v_enum(inst, val, schema, e);
		else if (!strcmp(kw, "maxLength") || !strcmp(kw, "minLength"))
			ok = v_length(inst, val, schema, e, kw[1] == 'a');
		else if (!strcmp(kw, "pattern"))
			ok = v_pattern(inst, val, schema, e);
		else if (!strcmp(kw, "items") && json_is_array(inst))
			ok = v_items(inst, val, e);
		else if (!strcmp(kw, "properties") && json_is_object(val))
			ok = v_properties(inst, val, e);
		else if (!strcmp(kw, "additionalProperties"))
			ok = v_additional(inst, val, schema, e);
		else if (!strcmp(kw, "required"))
			ok = v_required(inst, val, schema, e);
		if (!ok)
			return false;
	}
	return true;
}

/* Validate against the image schema; false and *msg (malloc'd, Glance's
 * InvalidObject text) on failure. */
static bool schema_check(const json_t *inst, char **msg)
{
	pthread_once(&schema_once, load_schema);
	if (!image_schema)
		return true;
	verr e = { 0 };
	if (validate(inst, image_schema, &e))
		return true;
	pbuf b = { 0 };
	pb_str(&b, "Provided object does not match schema 'image': ");
	pb_str(&b, e.message);
	pb_str(&b, "\n\nFailed validating ");
	repr_str(&b, e.validator, strlen(e.validator));
	pb_str(&b, " in schema");
	if (e.spath.s)
		pb_str(&b, e.spath.s);
	pb_str(&b, ":\n");
	pp_indented(&b, e.schema);
	pb_str(&b, "\n\nOn instance");
	if (e.ipath.s)
		pb_str(&b, e.ipath.s);
	pb_str(&b, ":\n");
	pp_indented(&b, e.instance);
	verr_free(&e);
	*msg = b.s;
	return false;
}

/* ------------------------------------------------------------------------ */
/* Request helpers. */

static const char *const readonly_attrs[] = {
	"created_at", "updated_at", "status", "checksum", "size", "virtual_size", "direct_url",
	"self", "file", "schema", "id", "os_hash_algo", "os_hash_value", NULL
};
static const char *const reserved_attrs[] = { "location", "deleted", "deleted_at", NULL };

static bool in_list(const char *const *list, const char *s)
{
	for (int i = 0; list[i]; i++)
		if (!strcmp(list[i], s))
			return true;
	return false;
}

static bool reserved_name(const char *key)
{
	return in_list(reserved_attrs, key) || !strncmp(key, "os_glance", 9);
}

/* Glance's routes do not take a trailing slash ("/v2/images/" is a 404). */
static bool begin(kreq *r)
{
	size_t n = strlen(r->path);
	if (n > 1 && r->path[n - 1] == '/') {
		kresp_error(r, 404, "%s", "");
		return false;
	}
	return true;
}

static bool has_body(kreq *r)
{
	if (r->body_len > 0)
		return true;
	const char *te = kreq_header(r, "Transfer-Encoding");
	static const char *const enc[] = { "chunked", "compress", "deflate", "gzip", "identity",
	                                   NULL };
	bool body_method = !strcmp(r->method, "POST") || !strcmp(r->method, "PUT") ||
	                   !strcmp(r->method, "PATCH");
	if (te && body_method)
		for (int i = 0; enc[i]; i++)
			if (!strcasecmp(te, enc[i]))
				return true;
	return false;
}

/* Glance's JSONRequestDeserializer: the body as a JSON object or array
 * (pool-owned), or NULL when answered. */
static json_t *get_body(kreq *r)
{
	if (!has_body(r)) {
		kresp_error(r, 400, "Body expected in request.");
		return NULL;
	}
	json_error_t err;
	json_t *j = json_loadb(r->body ? r->body : "", r->body_len, JSON_DECODE_ANY, &err);
	if (!j) {
		kresp_error(r, 400, "Malformed JSON in request body.");
		return NULL;
	}
	kpool_json(r->pool, j);
	if (!json_is_object(j) && !json_is_array(j)) {
		kresp_error(r, 400, "Unexpected body type. Expected list/dict.");
		return NULL;
	}
	return j;
}

static long quota(const char *key)
{
	return kconf_get_int(kumo_conf, "image", key, 128);
}

static bool has_4byte(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s >= 0xF0)
			return true;
	return false;
}

/* Python's str.title(). */
static char *py_title(kpool *pool, const char *s)
{
	char *t = kpool_strdup(pool, s);
	bool prev_letter = false;
	for (char *p = t; *p; p++) {
		bool letter = isalpha((unsigned char)*p);
		unsigned char c = (unsigned char)*p;
		if (letter)
			*p = (char)(prev_letter ? tolower(c) : toupper(c));
		prev_letter = letter;
	}
	return t;
}

/* The database layer's checks on a view about to be written: 32-bit
 * integers and no 4-byte UTF-8 (Glance's _validate_db_int and
 * no_4byte_params).  False when answered (400). */
static bool db_checks(kreq *r, const json_t *view)
{
	static const char *const ints[] = { "min_disk", "min_ram", NULL };
	for (int i = 0; ints[i]; i++) {
		json_t *v = json_object_get(view, ints[i]);
		if (json_is_integer(v) && json_integer_value(v) > MAX_INT32) {
			kresp_error(r, 400, "'%s' value out of range, must not exceed %lld.",
			            ints[i], MAX_INT32);
			return false;
		}
	}
	static const char *const core[] = { "id", "name", "status", "owner", "disk_format",
	                                    "container_format", "visibility", NULL };
	for (int i = 0; core[i]; i++)
		if (has_4byte(kjson_str(view, core[i]))) {
			kresp_error(r, 400, "%s can't contain 4 byte unicode characters.",
			            py_title(r->pool, core[i]));
			return false;
		}
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)view, key, v) {
		if (img_is_core_key(key))
			continue;
		if (has_4byte(key)) {
			kresp_error(r, 400, "Property names can't contain 4 byte unicode.");
			return false;
		}
		if (has_4byte(json_string_value(v))) {
			kresp_error(r, 400, "%s can't contain 4 byte unicode characters.",
			            py_title(r->pool, key));
			return false;
		}
	}
	return true;
}

static size_t count_props(const json_t *view)
{
	size_t n = 0;
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)view, key, v)
		n += !img_is_core_key(key);
	return n;
}

/* The image of the path, visible to the caller; NULL when answered with
 * 404 and `msg_fmt` (one %s for the id) or the server error. */
static json_t *lookup(kreq *r, const char *msg_fmt)
{
	const char *id = kreq_param(r, "image_id");
	json_t *img = NULL;
	int rc = img_fetch(id, &img);
	if (rc < 0) {
		kresp_error(r, 500, "%s", "");
		return NULL;
	}
	if (rc > 0 || !img_visible_to(img_project(r), img_is_admin(r), img)) {
		json_decref(img);
		kresp_error(r, 404, msg_fmt, id ? id : "");
		return NULL;
	}
	return kpool_json(r->pool, img);
}

/* The fresh view after a write (pool-owned), or NULL when answered. */
static json_t *refetch(kreq *r, const char *id)
{
	json_t *img = NULL;
	if (img_fetch(id, &img) != 0) {
		kresp_error(r, 500, "%s", "");
		return NULL;
	}
	return kpool_json(r->pool, img);
}

/* ImageAPIPolicy's enforcement on an image: 404 when the caller could not
 * even get it, else 403. */
static bool enforce(kreq *r, const char *action, const json_t *image)
{
	return img_enforce(r, action, (json_t *)image);
}

/* Visibility changes have their own rules (Glance's _enforce_image_visibility).
 * `target` is the proposed image's policy target before it exists, else the
 * image's view. */
static bool enforce_visibility(kreq *r, const char *vis, const json_t *target, bool created)
{
	const char *action = !vis ? NULL : !strcmp(vis, "public") ? "publicize_image" :
	                     !strcmp(vis, "community") ? "communitize_image" : NULL;
	if (!action)
		return true;
	if (created ? img_check(r, action, target) : img_check_target(r, action, target))
		return true;
	if (created && !img_check(r, "get_image", target)) {
		kresp_error(r, 404, "%s", "");
		return false;
	}
	img_forbidden_action(r, action);
	return false;
}

/* ------------------------------------------------------------------------ */
/* POST /v2/images */

static const char *const base_props[] = {
	"checksum", "created_at", "container_format", "disk_format", "id", "min_disk", "min_ram",
	"name", "size", "virtual_size", "status", "tags", "owner", "updated_at", "visibility",
	"protected", "os_hidden", NULL
};

static void create_image(kreq *r)
{
	if (!begin(r))
		return;
	json_t *body = get_body(r);
	if (!body)
		return;
	if (!json_is_object(body)) {
		kresp_error(r, 400, "%s", "");
		return;
	}
	static const char *const disallowed[] = { "direct_url", "self", "file", "schema",
	                                          "stores", NULL };
	for (int i = 0; disallowed[i]; i++)
		if (json_object_get(body, disallowed[i])) {
			kresp_error(r, 403, "Attribute '%s' is read-only.", disallowed[i]);
			return;
		}
	_cleanup_free_ char *msg = NULL;
	if (!schema_check(body, &msg)) {
		kresp_error(r, 400, "%s", msg);
		return;
	}
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v) {
		if (in_list(base_props, key))
			continue;
		if (u8len(key, strlen(key)) > 255) {
			kresp_error(r, 400, "Custom property should not be greater than 255 "
			            "characters.");
			return;
		}
		if (reserved_name(key)) {
			kresp_error(r, 403, "Attribute '%s' is reserved.", key);
			return;
		}
	}

	/* the controller: owner, policy */
	const char *proj = img_project(r);
	json_t *owner_v = json_object_get(body, "owner");
	const char *owner = owner_v ? kjson_str(body, "owner") : proj;
	const char *vis = kjson_str(body, "visibility");
	_cleanup_json_ json_t *target = json_pack("{s:o,s:o,s:s}",
		"project_id", owner ? json_string(owner) : json_null(),
		"owner", owner ? json_string(owner) : json_null(),
		"visibility", vis ? vis : "private");
	if (!img_check_target(r, "add_image", target)) {
		if (!owner || !proj || strcmp(owner, proj))
			kresp_error(r, 403, "You are not permitted to create images owned by '%s'",
			            owner ? owner : "None");
		else
			img_forbidden_action(r, "add_image");
		return;
	}
	if (!enforce_visibility(r, vis ? vis : "private", target, false))
		return;

	/* the domain: tags quota, read-only and reserved attributes, defaults */
	json_t *tags_in = json_object_get(body, "tags");
	_cleanup_json_ json_t *tags = json_array();
	size_t i;
	json_array_foreach(tags_in, i, v)
		if (json_is_string(v)) {
			bool dup = false;
			size_t j;
			json_t *t;
			json_array_foreach(tags, j, t)
				dup |= !strcmp(json_string_value(t), json_string_value(v));
			if (!dup)
				json_array_append(tags, v);
		}
	long tq = quota("image_tag_quota");
	if (tq >= 0 && json_array_size(tags) > (size_t)tq) {
		kresp_error(r, 413, "The limit has been exceeded on the number of allowed image "
		            "tags. Attempted: %zu, Maximum: %ld", json_array_size(tags), tq);
		return;
	}
	static const char *const factory_readonly[] = { "created_at", "updated_at", "status",
	                                                "checksum", "os_hash_algo",
	                                                "os_hash_value", "size", "virtual_size",
	                                                NULL };
	for (int k = 0; factory_readonly[k]; k++)
		if (json_object_get(body, factory_readonly[k])) {
			kresp_error(r, 403, "Attribute '%s' is read-only.", factory_readonly[k]);
			return;
		}
	if (json_object_get(body, "locations")) {
		kresp_error(r, 403, "Attribute '%s' is reserved.", "locations");
		return;
	}
	static const char *const ints[] = { "min_disk", "min_ram", NULL };
	for (int k = 0; ints[k]; k++) {
		json_t *n = json_object_get(body, ints[k]);
		if (n && json_number_value(n) < 0) {
			_cleanup_free_ char *rv = repr_dup(n, false);
			kresp_error(r, 400, "Invalid value '%s' for parameter '%s': Cannot be a "
			            "negative value", rv, ints[k]);
			return;
		}
	}

	char idbuf[37];
	const char *id = kjson_str(body, "id");
	if (!id) {
		kutil_uuid(idbuf);
		id = idbuf;
	}
	_cleanup_json_ json_t *view = json_object();
	json_object_foreach(body, key, v)
		if (!in_list(base_props, key))
			json_object_set(view, key, v);
	json_object_set_new(view, "id", json_string(id));
	json_object_set(view, "name", json_object_get(body, "name") ?
	                json_object_get(body, "name") : json_null());
	json_object_set(view, "disk_format", json_object_get(body, "disk_format") ?
	                json_object_get(body, "disk_format") : json_null());
	json_object_set(view, "container_format", json_object_get(body, "container_format") ?
	                json_object_get(body, "container_format") : json_null());
	json_object_set_new(view, "visibility", json_string(vis ? vis : "shared"));
	json_object_set_new(view, "owner", owner ? json_string(owner) : json_null());
	for (int k = 0; ints[k]; k++) {
		json_t *n = json_object_get(body, ints[k]);
		json_int_t iv = n ? (json_int_t)json_number_value(n) : 0;
		json_object_set_new(view, ints[k], json_integer(iv));
	}
	json_object_set_new(view, "protected",
	                    json_boolean(json_is_true(json_object_get(body, "protected"))));
	json_object_set_new(view, "os_hidden",
	                    json_boolean(json_is_true(json_object_get(body, "os_hidden"))));
	json_object_set(view, "tags", tags);

	long pq = quota("image_property_quota");
	if (pq >= 0 && count_props(view) > (size_t)pq) {
		kresp_error(r, 413, "The limit has been exceeded on the number of allowed image "
		            "properties. Attempted: %zu, Maximum: %ld", count_props(view), pq);
		return;
	}
	if (!db_checks(r, view))
		return;
	int rc = img_insert(view);
	if (rc == 409) {
		kresp_error(r, 409, "Image ID %s already exists!", id);
		return;
	}
	if (rc != 0) {
		kresp_error(r, 500, "%s", "");
		return;
	}
	json_t *img = refetch(r, id);
	if (!img)
		return;
	kresp_header(r, "Location", kpool_printf(r->pool, "%s/v2/images/%s", kreq_base_url(r), id));
	kresp_header(r, "OpenStack-image-import-methods", "glance-direct");
	kresp_json(r, 201, json_incref(img));
}

/* ------------------------------------------------------------------------ */
/* GET /v2/images */

/* Python's urllib.parse.quote_plus. */
static void quote_plus(pbuf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '_' || c == '.' || c == '-' || c == '~') {
			pb_add(b, (const char *)s, 1);
		} else if (c == ' ') {
			pb_str(b, "+");
		} else {
			char tmp[4];
			snprintf(tmp, sizeof(tmp), "%%%02X", c);
			pb_str(b, tmp);
		}
	}
}

#define MAX_QUERY 128

typedef struct qarg {
	const char *key, *value;
} qarg;

typedef struct qlist {
	qarg a[MAX_QUERY];
	size_t n;
	bool too_many;
	kpool *pool;
} qlist;

static int collect_query(void *ud, const char *key, const char *value)
{
	qlist *q = ud;
	if (q->n == MAX_QUERY) {
		q->too_many = true;
		return 1;
	}
	q->a[q->n].key = kpool_strdup(q->pool, key);
	q->a[q->n++].value = kpool_strdup(q->pool, value ? value : "");
	return 0;
}

/* The last value of a query key (webob's params[key]), or NULL. */
static const char *qlast(const qlist *q, const char *key)
{
	const char *v = NULL;
	for (size_t i = 0; i < q->n; i++)
		if (!strcmp(q->a[i].key, key))
			v = q->a[i].value;
	return v;
}

/* The first value (webob's params.pop(key)), or NULL. */
static const char *qfirst(const qlist *q, const char *key)
{
	for (size_t i = 0; i < q->n; i++)
		if (!strcmp(q->a[i].key, key))
			return q->a[i].value;
	return NULL;
}

static bool qhas(const qlist *q, const char *key)
{
	return qlast(q, key) != NULL;
}

/* A link to the listing with the query's parameters as a dict (one value
 * per key, the last one, in first-seen order), marker replaced. */
static const char *page_link(kreq *r, const qlist *q, const char *marker)
{
	pbuf b = { 0 };
	pb_str(&b, "/v2/images");
	size_t n = 0;
	for (size_t i = 0; i < q->n; i++) {
		const char *k = q->a[i].key;
		bool first = true;
		for (size_t j = 0; j < i; j++)
			first &= strcmp(q->a[j].key, k) != 0;
		if (!first || !strcmp(k, "marker"))
			continue;
		pb_str(&b, n++ ? "&" : "?");
		quote_plus(&b, k);
		pb_str(&b, "=");
		quote_plus(&b, qlast(q, k));
	}
	if (marker) {
		pb_str(&b, n++ ? "&" : "?");
		pb_str(&b, "marker=");
		quote_plus(&b, marker);
	}
	const char *out = kpool_strdup(r->pool, b.s);
	pb_free(&b);
	return out;
}

static const char *const sort_keys_ok[] = { "name", "status", "container_format",
                                            "disk_format", "size", "id", "created_at",
                                            "updated_at", NULL };

static char *strip(kpool *pool, const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return kpool_strndup(pool, s, n);
}

static bool sort_key_ok(kreq *r, const char *k)
{
	if (in_list(sort_keys_ok, k))
		return true;
	kresp_error(r, 400, "Invalid sort key: %s. It must be one of the following: name, status, "
	            "container_format, disk_format, size, id, created_at, updated_at.", k);
	return false;
}

static bool sort_dir_ok(kreq *r, const char *d)
{
	if (!strcmp(d, "asc") || !strcmp(d, "desc"))
		return true;
	kresp_error(r, 400, "Invalid sort direction: %s", d);
	return false;
}

static void list_images(kreq *r)
{
	if (!begin(r))
		return;
	qlist q = { .pool = r->pool };
	kreq_query_each(r, collect_query, &q);
	if (q.too_many) {
		kresp_error(r, 400, "Too many query parameters.");
		return;
	}
	img_query iq = { .protected_ = -1 };
	const char *limit = qfirst(&q, "limit");
	iq.marker = qfirst(&q, "marker");
	iq.member_status = qfirst(&q, "member_status");
	if (!iq.member_status)
		iq.member_status = "accepted";
	iq.tags = kpool_alloc(r->pool, (q.n + 1) * sizeof(*iq.tags));
	for (size_t i = 0; i < q.n; i++)
		if (!strcmp(q.a[i].key, "tag"))
			iq.tags[iq.ntags++] = strip(r->pool, q.a[i].value);

	/* _get_filters */
	const char *vis = qlast(&q, "visibility");
	if (vis && *vis) {
		if (strcmp(vis, "community") && strcmp(vis, "public") && strcmp(vis, "private") &&
		    strcmp(vis, "shared") && strcmp(vis, "all")) {
			kresp_error(r, 400, "Invalid visibility value: %s", vis);
			return;
		}
		iq.visibility = vis;
	}
	const char *cs = qlast(&q, "changes-since");
	if (cs && *cs) {
		kresp_error(r, 400, "The \"changes-since\" filter is no longer available on v2.");
		return;
	}
	if (strcmp(iq.member_status, "pending") && strcmp(iq.member_status, "accepted") &&
	    strcmp(iq.member_status, "rejected") && strcmp(iq.member_status, "all")) {
		kresp_error(r, 400, "Invalid status: %s", iq.member_status);
		return;
	}
	iq.limit = kconf_get_int(kumo_conf, "image", "limit_param_default", 25);
	if (limit) {
		char *end;
		const char *s = limit;
		while (isspace((unsigned char)*s))
			s++;
		long long v = strtoll(s, &end, 10);
		while (isspace((unsigned char)*end))
			end++;
		if (end == s || *end) {
			kresp_error(r, 400, "limit param must be an integer");
			return;
		}
		if (v < 0) {
			kresp_error(r, 400, "limit param must be positive");
			return;
		}
		iq.limit = v;
	}
	long max = kconf_get_int(kumo_conf, "image", "api_limit_max", 1000);
	if (iq.limit > max)
		iq.limit = max;

	/* sorting: sort=k:dir,... or sort_key/sort_dir */
	if (qhas(&q, "sort")) {
		if (qhas(&q, "sort_key") || qhas(&q, "sort_dir")) {
			kresp_error(r, 400, "Old and new sorting syntax cannot be combined");
			return;
		}
		char *spec = strip(r->pool, qfirst(&q, "sort")), *tok;
		while ((tok = strsep(&spec, ",")) != NULL) {
			char *colon = strchr(tok, ':');
			const char *dir = "desc";
			if (colon) {
				*colon = '\0';
				if (*(colon + 1))
					dir = strip(r->pool, colon + 1);
			}
			const char *k = strip(r->pool, tok);
			if (!sort_key_ok(r, k) || !sort_dir_ok(r, dir))
				return;
			if (iq.nsort < IMG_MAX_SORT) {
				iq.sort_keys[iq.nsort++] = k;
				iq.sort_dirs[iq.nsort_dirs++] = dir;
			}
		}
	} else {
		for (size_t i = 0; i < q.n; i++)
			if (!strcmp(q.a[i].key, "sort_key")) {
				const char *k = strip(r->pool, q.a[i].value);
				if (!sort_key_ok(r, k))
					return;
				if (iq.nsort < IMG_MAX_SORT)
					iq.sort_keys[iq.nsort++] = k;
			}
		for (size_t i = 0; i < q.n; i++)
			if (!strcmp(q.a[i].key, "sort_dir")) {
				const char *d = strip(r->pool, q.a[i].value);
				if (!sort_dir_ok(r, d))
					return;
				if (iq.nsort_dirs < IMG_MAX_SORT)
					iq.sort_dirs[iq.nsort_dirs++] = d;
			}
		if (iq.nsort_dirs > 1 && iq.nsort_dirs != iq.nsort) {
			kresp_error(r, 400, "Number of sort dirs does not match the number of sort "
			            "keys");
			return;
		}
	}
	if (iq.nsort == 0)
		iq.sort_keys[iq.nsort++] = "created_at";
	if (iq.nsort_dirs == 0)
		iq.sort_dirs[iq.nsort_dirs++] = "desc";

	/* the controller: os_hidden and protected filters */
	const char *hidden = qlast(&q, "os_hidden");
	if (hidden) {
		char *h = kpool_strdup(r->pool, hidden);
		for (char *p = h; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (strcmp(h, "true") && strcmp(h, "false")) {
			kresp_error(r, 400, "Invalid value '%s' for 'os_hidden' filter. Valid "
			            "values are 'true' or 'false'.", h);
			return;
		}
		iq.os_hidden = !strcmp(h, "true");
	}
	const char *prot = qlast(&q, "protected");
	if (prot) {
		if (strcmp(prot, "true") && strcmp(prot, "false")) {
			kresp_error(r, 400, "Invalid value '%s' for 'protected' filter. Valid "
			            "values are 'true' or 'false'.", prot);
			return;
		}
		iq.protected_ = !strcmp(prot, "true");
	}

	/* everything else filters */
	static const char *const consumed[] = { "limit", "marker", "member_status", "tag",
	                                        "visibility", "sort", "sort_key", "sort_dir",
	                                        "os_hidden", "protected", "changes-since", NULL };
	iq.filters = kpool_alloc(r->pool, (q.n + 1) * sizeof(*iq.filters));
	for (size_t i = 0; i < q.n; i++) {
		const char *k = q.a[i].key;
		bool first = true;
		for (size_t j = 0; j < i; j++)
			first &= strcmp(q.a[j].key, k) != 0;
		if (!first || in_list(consumed, k))
			continue;
		iq.filters[iq.nfilters].key = k;
		iq.filters[iq.nfilters++].value = qlast(&q, k);
	}

	_cleanup_json_ json_t *ptarget = json_pack("{s:s?}", "project_id", img_project(r));
	if (!r->ctx || !img_check_target(r, "get_images", ptarget)) {
		img_forbidden_action(r, "get_images");
		return;
	}
	iq.project = img_project(r);
	iq.admin = img_is_admin(r);

	json_t *images = NULL;
	char *next = NULL, err[1024];
	int rc = img_list(r, &iq, &images, &next, err, sizeof(err));
	if (rc) {
		kresp_error(r, rc, "%s", err);
		return;
	}
	json_t *out = json_pack("{s:O,s:s,s:s}", "images", images, "first",
	                        page_link(r, &q, NULL), "schema", "/v2/schemas/images");
	if (next)
		json_object_set_new(out, "next", json_string(page_link(r, &q, next)));
	kresp_json(r, 200, out);
}

/* ------------------------------------------------------------------------ */
/* GET /v2/images/{image_id} */

static void show_image(kreq *r)
{
	if (!begin(r))
		return;
	json_t *img = lookup(r, "No image found with ID %s");
	if (!img || !enforce(r, "get_image", img))
		return;
	kresp_json(r, 200, json_incref(img));
}

/* ------------------------------------------------------------------------ */
/* PATCH /v2/images/{image_id} */

typedef struct change {
	const char *op;          /* add, remove, replace */
	const char **path;       /* decoded pointer tokens */
	size_t npath;
	json_t *value;           /* borrowed from the body; NULL for remove */
} change;

static const char *const patch_types[] = {
	"application/openstack-images-v2.0-json-patch",
	"application/openstack-images-v2.1-json-patch",
};

/* Glance's _validate_json_pointer and _decode_json_pointer. */
static bool decode_pointer(kreq *r, const char *ptr, change *c)
{
	if (ptr[0] != '/') {
		kresp_error(r, 400, "Pointer `%s` does not start with \"/\".", ptr);
		return false;
	}
	for (const char *p = ptr + 1; *p; p++)
		if (*p == '/') {
			const char *q = p + 1;
			while (*q && isspace((unsigned char)*q))
				q++;
			if (*q == '/') {
				kresp_error(r, 400, "Pointer `%s` contains adjacent \"/\".", ptr);
				return false;
			}
		}
	size_t len = strlen(ptr);
	if (len > 1 && ptr[len - 1] == '/') {
		kresp_error(r, 400, "Pointer `%s` end with \"/\".", ptr);
		return false;
	}
	if (!strcmp(strip(r->pool, ptr + 1), "/")) {
		kresp_error(r, 400, "Pointer `%s` does not contains valid token.", ptr);
		return false;
	}
	for (const char *p = ptr; *p; p++)
		if (*p == '~' && p[1] != '0' && p[1] != '1') {
			kresp_error(r, 400, "Pointer `%s` contains \"~\" not part of a recognized "
			            "escape sequence.", ptr);
			return false;
		}
	const char *s = ptr;
	while (*s == '/')
		s++;
	c->path = kpool_alloc(r->pool, (len + 1) * sizeof(*c->path));
	c->npath = 0;
	for (;;) {
		const char *slash = strchr(s, '/');
		size_t n = slash ? (size_t)(slash - s) : strlen(s);
		char *tok = kpool_alloc(r->pool, n + 1), *o = tok;
		for (size_t i = 0; i < n; i++) {
			if (s[i] == '~' && i + 1 < n && s[i + 1] == '1') {
				*o++ = '/';
				i++;
			} else if (s[i] == '~' && i + 1 < n && s[i + 1] == '0') {
				*o++ = '~';
				i++;
			} else {
				*o++ = s[i];
			}
		}
		*o = '\0';
		c->path[c->npath++] = strip(r->pool, tok);
		if (!slash)
			break;
		s = slash + 1;
	}
	return true;
}

/* The operation and the pointer of a v2.1 (JSON Schema draft 10) change:
 * {"op": "add", "path": "/x"}.  NULL when answered. */
static json_t *op_d10(kreq *r, json_t *raw, change *c)
{
	json_t *op = json_object_get(raw, "op");
	if (!op || json_is_null(op)) {
		kresp_error(r, 400, "Unable to find `op` in JSON Schema change. It must be one of "
		            "the following: add, remove, replace.");
		return NULL;
	}
	const char *ops = json_string_value(op);
	if (!ops || (strcmp(ops, "add") && strcmp(ops, "remove") && strcmp(ops, "replace"))) {
		_cleanup_free_ char *rep = repr_dup(op, false);
		kresp_error(r, 400, "Invalid operation: `%s`. It must be one of the following: "
		            "add, remove, replace.", ops ? ops : rep);
		return NULL;
	}
	c->op = ops;
	json_t *path = json_object_get(raw, "path");
	if (!path)
		kresp_error(r, 400, "Unable to find 'path' in JSON Schema change");
	return path;
}

/* The same for a v2.0 (draft 4) change: {"add": "/x"}. */
static json_t *op_d4(kreq *r, json_t *raw, change *c)
{
	static const char *const ops[] = { "add", "remove", "replace" };
	c->op = NULL;
	for (int k = 0; k < 3; k++) {
		if (!json_object_get(raw, ops[k]))
			continue;
		if (c->op) {
			kresp_error(r, 400, "Operation objects must contain only one member named "
			            "\"add\", \"remove\", or \"replace\".");
			return NULL;
		}
		c->op = ops[k];
	}
	if (!c->op) {
		kresp_error(r, 400, "Operation objects must contain exactly one member named "
		            "\"add\", \"remove\", or \"replace\".");
		return NULL;
	}
	return json_object_get(raw, c->op);
}

/* _validate_path: only /locations/N goes deeper than one level. */
static bool path_depth_ok(kreq *r, const change *c)
{
	size_t want = 1;
	if (!strcmp(c->path[0], "locations"))
		want = !strcmp(c->op, "replace") ? 1 : 2;
	if (c->npath == want)
		return true;
	pbuf p = { 0 };
	for (size_t k = 0; k < c->npath; k++) {
		if (k)
			pb_str(&p, "/");
		pb_str(&p, c->path[k]);
	}
	kresp_error(r, 400, "Invalid JSON pointer for this resource: '/%s'", p.s ? p.s : "");
	pb_free(&p);
	return false;
}

/* _validate_change: read-only and reserved attributes, then the value
 * against the schema. */
static bool change_ok(kreq *r, const change *c)
{
	const char *root = c->path[0];
	if (in_list(readonly_attrs, root)) {
		kresp_error(r, 403, "Attribute '%s' is read-only.", root);
		return false;
	}
	if (reserved_name(root)) {
		kresp_error(r, 403, "Attribute '%s' is reserved.", root);
		return false;
	}
	if (!strcmp(c->op, "remove"))
		return true;
	_cleanup_json_ json_t *partial = NULL;
	if (c->npath == 1)
		partial = json_pack("{s:O}", root, c->value);
	else if (!strcmp(root, "locations") || !strcmp(root, "tags"))
		partial = json_pack("{s:[O]}", root, c->value);
	_cleanup_free_ char *msg = NULL;
	if (partial && !schema_check(partial, &msg)) {
		kresp_error(r, 400, "%s", msg);
		return false;
	}
	return true;
}

/* One change of the body; false when answered. */
static bool parse_change(kreq *r, json_t *raw, int draft, change *c)
{
	if (!json_is_object(raw)) {
		kresp_error(r, 400, "Operations must be JSON objects.");
		return false;
	}
	json_t *pathv = draft == 10 ? op_d10(r, raw, c) : op_d4(r, raw, c);
	if (!pathv)
		return false;
	const char *ptr = json_string_value(pathv);
	if (!ptr) {
		_cleanup_free_ char *rep = repr_dup(pathv, false);
		kresp_error(r, 400, "Pointer `%s` does not start with \"/\".", rep);
		return false;
	}
	if (!decode_pointer(r, ptr, c) || !path_depth_ok(r, c))
		return false;
	if (strcmp(c->op, "remove") != 0) {
		c->value = json_object_get(raw, "value");
		if (!c->value) {
			kresp_error(r, 400, "Operation \"%s\" requires a member named \"value\".",
			            c->op);
			return false;
		}
	}
	return change_ok(r, c);
}

/* The deserializer: parse and validate every change; false when answered. */
static bool parse_changes(kreq *r, json_t *body, int draft, change **out, size_t *n)
{
	if (!json_is_array(body)) {
		kresp_error(r, 400, "Request body must be a JSON array of operation objects.");
		return false;
	}
	size_t cnt = json_array_size(body);
	change *cs = kpool_alloc(r->pool, (cnt + 1) * sizeof(*cs));
	size_t i;
	json_t *raw;
	json_array_foreach(body, i, raw)
		if (!parse_change(r, raw, draft, &cs[i]))
			return false;
	*out = cs;
	*n = cnt;
	return true;
}

/* The image attributes a patch may set (the domain's settable attributes). */
static bool patchable_core(const char *k)
{
	static const char *const attrs[] = { "name", "visibility", "os_hidden", "min_disk",
	                                     "min_ram", "protected", "owner", "disk_format",
	                                     "container_format", "tags", NULL };
	return in_list(attrs, k);
}

/* Python's truth value of a JSON value. */
static bool py_truthy(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_NULL:
	case JSON_FALSE:
		return false;
	case JSON_ARRAY:
		return json_array_size(v) > 0;
	case JSON_OBJECT:
		return json_object_size(v) > 0;
	case JSON_STRING:
		return json_string_length(v) > 0;
	case JSON_INTEGER:
	case JSON_REAL:
		return json_number_value(v) != 0;
	default:
		return true;
	}
}

/* Set a core attribute with the domain's rules; false when answered. */
static bool set_core(kreq *r, json_t *img, const char *k, json_t *value)
{
	if (!strcmp(k, "disk_format") || !strcmp(k, "container_format")) {
		const char *st = kjson_str(img, "status");
		if (!st || (strcmp(st, "queued") && strcmp(st, "importing"))) {
			kresp_error(r, 403, "Attribute %s can be only replaced for a queued image.",
			            k);
			return false;
		}
	}
	if (!strcmp(k, "min_disk") || !strcmp(k, "min_ram")) {
		if (json_number_value(value) < 0) {
			_cleanup_free_ char *rv = repr_dup(value, false);
			kresp_error(r, 400, "Invalid value '%s' for parameter '%s': Cannot be a "
			            "negative value", rv, k);
			return false;
		}
		json_object_set_new(img, k, json_integer((json_int_t)json_number_value(value)));
		return true;
	}
	if (!strcmp(k, "tags")) {
		json_t *tags = json_array();
		size_t i;
		json_t *t;
		json_array_foreach(value, i, t) {
			bool dup = false;
			size_t j;
			json_t *u;
			json_array_foreach(tags, j, u)
				dup |= json_equal(t, u);
			if (!dup)
				json_array_append(tags, t);
		}
		long tq = quota("image_tag_quota");
		if (tq >= 0 && json_array_size(tags) > (size_t)tq) {
			kresp_error(r, 413, "The limit has been exceeded on the number of allowed "
			            "image tags. Attempted: %zu, Maximum: %ld",
			            json_array_size(tags), tq);
			json_decref(tags);
			return false;
		}
		json_object_set_new(img, k, tags);
		return true;
	}
	json_object_set(img, k, value);
	return true;
}

static bool has_attr(const json_t *img, const char *k)
{
	return patchable_core(k) || (!img_is_core_key(k) && json_object_get(img, k));
}

static bool apply_change(kreq *r, json_t *img, const change *c, int draft)
{
	const char *root = c->path[0];
	bool admin = img_is_admin(r);
	if (!strcmp(root, "locations")) {
		const char *action = !strcmp(c->op, "remove") ? "delete_image_location" :
		                     "set_image_location";
		if (!strcmp(c->op, "replace") && !py_truthy(c->value)) {
			kresp_error(r, 403, "Cannot set locations to empty list.");
			return false;
		}
		if (!enforce(r, action, img))
			return false;
		kresp_error(r, 403, "It's not allowed to %s locations if locations are invisible.",
		            !strcmp(c->op, "add") ? "add" : !strcmp(c->op, "remove") ? "remove" :
		            "update");
		return false;
	}
	if (!strcmp(c->op, "replace") && !strcmp(root, "owner") && !admin) {
		kresp_error(r, 403, "Owner can't be updated by non admin.");
		return false;
	}
	/* update_property: visibility's own rule, then modify_image */
	if (!strcmp(root, "visibility") && c->value &&
	    !enforce_visibility(r, json_string_value(c->value), img, true))
		return false;
	if (!enforce(r, "modify_image", img))
		return false;
	if (!strcmp(c->op, "remove")) {
		if (patchable_core(root)) {
			kresp_error(r, 403, "Property %s may not be removed.", root);
			return false;
		}
		if (img_is_core_key(root) || !json_object_get(img, root)) {
			kresp_error(r, 409, "Property %s does not exist.", root);
			return false;
		}
		json_object_del(img, root);
		return true;
	}
	if (!strcmp(c->op, "add") && draft == 4 && has_attr(img, root)) {
		kresp_error(r, 409, "Property %s already present.", root);
		return false;
	}
	if (!strcmp(c->op, "replace") && !has_attr(img, root)) {
		kresp_error(r, 409, "Property %s does not exist.", root);
		return false;
	}
	if (patchable_core(root))
		return set_core(r, img, root, c->value);
	if (img_is_core_key(root)) {   /* cannot happen: read-only attributes were refused */
		kresp_error(r, 403, "Attribute '%s' is read-only.", root);
		return false;
	}
	json_object_set(img, root, c->value);
	return true;
}

static void update_image(kreq *r)
{
	if (!begin(r))
		return;
	const char *ct = kreq_header(r, "Content-Type");
	char ctype[128] = "";
	if (ct) {
		size_t n = strcspn(ct, ";");
		while (n && isspace((unsigned char)ct[n - 1]))
			n--;
		const char *s = ct;
		while (isspace((unsigned char)*s) && n)
			s++, n--;
		snprintf(ctype, sizeof(ctype), "%.*s", (int)n, s);
		for (char *p = ctype; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	int draft = !strcmp(ctype, patch_types[0]) ? 4 : !strcmp(ctype, patch_types[1]) ? 10 : 0;
	if (!draft) {
		const char *allowed = kpool_printf(r->pool, "%s, %s", patch_types[0],
		                                   patch_types[1]);
		kresp_header(r, "Accept-Patch", allowed);
		img_error_detail(r, 415, NULL, kpool_printf(r->pool, "Image PATCH expects "
		                 "Content-Type one of: %s", allowed));
		return;
	}
	json_t *body = get_body(r);
	if (!body)
		return;
	change *changes;
	size_t n;
	if (!parse_changes(r, body, draft, &changes, &n))
		return;

	json_t *img = lookup(r, "No image found with ID %s");
	if (!img)
		return;
	_cleanup_json_ json_t *before = json_deep_copy(img);
	for (size_t i = 0; i < n; i++)
		if (!apply_change(r, img, &changes[i], draft))
			return;
	if (n == 0) {
		kresp_json(r, 200, json_incref(img));
		return;
	}
	/* the quota layer: new properties beyond image_property_quota */
	long pq = quota("image_property_quota");
	bool added = false;
	const char *key;
	json_t *v;
	json_object_foreach(img, key, v)
		added |= !img_is_core_key(key) && !json_object_get(before, key);
	if (added && pq >= 0 && count_props(img) > (size_t)pq) {
		kresp_error(r, 413, "The limit has been exceeded on the number of allowed image "
		            "properties. Attempted: %zu, Maximum: %ld", count_props(img), pq);
		return;
	}
	if (!db_checks(r, img))
		return;
	int rc = img_update(img);
	if (rc == 404) {
		kresp_error(r, 404, "No image found with ID %s", kjson_str(img, "id"));
		return;
	}
	if (rc != 0) {
		kresp_error(r, 500, "%s", "");
		return;
	}
	json_t *fresh = refetch(r, kjson_str(img, "id"));
	if (fresh)
		kresp_json(r, 200, json_incref(fresh));
}

/* ------------------------------------------------------------------------ */
/* DELETE /v2/images/{image_id} */

static void delete_image(kreq *r)
{
	if (!begin(r))
		return;
	json_t *img = lookup(r, "Failed to find image %s to delete");
	if (!img || !enforce(r, "delete_image", img))
		return;
	const char *id = kjson_str(img, "id");
	if (json_is_true(json_object_get(img, "protected"))) {
		kresp_error(r, 403, "Image %s is protected and cannot be deleted.", id);
		return;
	}
	int rc = img_remove(id);
	if (rc == 403) {
		kresp_error(r, 403, "Image %s is protected and cannot be deleted.", id);
		return;
	}
	if (rc == 404) {
		kresp_error(r, 404, "Failed to find image %s to delete", id);
		return;
	}
	if (rc != 0) {
		kresp_error(r, 500, "%s", "");
		return;
	}
	if (imgstore_delete(id) != 0)
		klog_warn("image", "image %s deleted, but its data could not be removed", id);
	kresp_status(r, 204);
}

/* ------------------------------------------------------------------------ */
/* POST /v2/images/{image_id}/actions/deactivate|reactivate */

static void change_activation(kreq *r, bool deactivate)
{
	if (!begin(r))
		return;
	json_t *img = lookup(r, "No image found with ID %s");
	const char *action = deactivate ? "deactivate" : "reactivate";
	if (!img || !enforce(r, action, img))
		return;
	const char *st = kjson_str(img, "status");
	const char *from = deactivate ? "active" : "deactivated";
	const char *to = deactivate ? "deactivated" : "active";
	if (st && !strcmp(st, to)) {
		kresp_status(r, 204);
		return;
	}
	if (!st || strcmp(st, from)) {
		kresp_error(r, 403, "Not allowed to %s image in status '%s'", action, st ? st : "");
		return;
	}
	if (img_set_status(kjson_str(img, "id"), from, to) != 0) {
		kresp_error(r, 409, "cannot transition from %s to %s in update (wanted "
		            "from_state=%s)", st, to, from);
		return;
	}
	klog_info("image", "Image %s is %s", kjson_str(img, "id"),
	          deactivate ? "deactivated" : "reactivated");
	kresp_status(r, 204);
}

static void deactivate_image(kreq *r)
{
	change_activation(r, true);
}

static void reactivate_image(kreq *r)
{
	change_activation(r, false);
}

/* ------------------------------------------------------------------------ */
/* PUT/DELETE /v2/images/{image_id}/tags/{tag_value} */

static void add_tag(kreq *r)
{
	if (!begin(r))
		return;
	const char *tag = kreq_param(r, "tag_value");
	_cleanup_json_ json_t *partial = json_pack("{s:[s]}", "tags", tag ? tag : "");
	_cleanup_free_ char *msg = NULL;
	if (!partial || !schema_check(partial, &msg)) {
		kresp_error(r, 400, "%s", msg ? msg : "");
		return;
	}
	json_t *img = lookup(r, "Image %s not found.");
	if (!img || !enforce(r, "modify_image", img))
		return;
	json_t *tags = json_object_get(img, "tags");
	size_t i;
	json_t *t;
	bool have = false;
	json_array_foreach(tags, i, t)
		have |= !strcmp(json_string_value(t), tag);
	if (!have) {
		json_array_append_new(tags, json_string(tag));
		long tq = quota("image_tag_quota");
		if (tq >= 0 && json_array_size(tags) > (size_t)tq) {
			kresp_error(r, 413, "Image tag limit exceeded for image %s: The limit has "
			            "been exceeded on the number of allowed image tags. Attempted: "
			            "%zu, Maximum: %ld:", kjson_str(img, "id"),
			            json_array_size(tags), tq);
			return;
		}
	}
	int rc = img_update(img);
	if (rc == 404) {
		kresp_error(r, 404, "Image %s not found.", kjson_str(img, "id"));
		return;
	}
	if (rc != 0) {
		kresp_error(r, 500, "%s", "");
		return;
	}
	kresp_status(r, 204);
}

static void delete_tag(kreq *r)
{
	if (!begin(r))
		return;
	const char *tag = kreq_param(r, "tag_value");
	json_t *img = lookup(r, "Image %s not found.");
	if (!img || !enforce(r, "modify_image", img))
		return;
	json_t *tags = json_object_get(img, "tags");
	size_t i;
	json_t *t;
	bool have = false;
	json_array_foreach(tags, i, t)
		if (!strcmp(json_string_value(t), tag)) {
			json_array_remove(tags, i);
			have = true;
			break;
		}
	if (!have) {
		kresp_error(r, 404, "%s", "");
		return;
	}
	int rc = img_update(img);
	if (rc == 404) {
		kresp_error(r, 404, "Image %s not found.", kjson_str(img, "id"));
		return;
	}
	if (rc != 0) {
		kresp_error(r, 500, "%s", "");
		return;
	}
	kresp_status(r, 204);
}

/* ------------------------------------------------------------------------ */
/* /v2/images/{image_id}/members */

/* MemberAPIPolicy: get_image first (404), then the member rule (403). */
static bool enforce_member(kreq *r, const char *action, const json_t *img)
{
	if (!enforce(r, "get_image", img))
		return false;
	if (img_check(r, action, img))
		return true;
	img_forbidden_action(r, action);
	return false;
}

static bool shared(const json_t *img)
{
	const char *vis = kjson_str(img, "visibility");
	return vis && !strcmp(vis, "shared");
}

/* The members a caller may see: all for an admin or the owner, else its own. */
static const char *member_filter(kreq *r, const json_t *img)
{
	const char *owner = kjson_str(img, "owner"), *proj = img_project(r);
	if (img_is_admin(r) || (owner && proj && !strcmp(owner, proj)))
		return NULL;
	return proj ? proj : "";
}

/* _lookup_member: the member's view (pool) or NULL when answered. */
static json_t *lookup_member(kreq *r, const json_t *img, const char *member, bool not_found_only)
{
	if (!enforce(r, "get_image", img))
		return NULL;
	if (!img_check(r, "get_member", img)) {
		if (not_found_only)
			kresp_error(r, 404, "%s", "You are not authorized to complete get_member "
			            "action.");
		else
			img_forbidden_action(r, "get_member");
		return NULL;
	}
	const char *only = member_filter(r, img);
	json_t *m = NULL;
	int rc = 1;
	if (!only || !strcmp(only, member))
		rc = img_member_get(kjson_str(img, "id"), member, &m);
	if (rc < 0) {
		kresp_error(r, 500, "%s", "");
		return NULL;
	}
	if (rc > 0) {
		kresp_error(r, 404, "%s not found in the member list of the image %s.", member,
		            kjson_str(img, "id"));
		return NULL;
	}
	return kpool_json(r->pool, m);
}

static void list_members(kreq *r)
{
	if (!begin(r))
		return;
	json_t *img = lookup(r, "Image %s not found.");
	if (!img)
		return;
	if (!shared(img)) {
		kresp_error(r, 403, "Not allowed to list members for image %s: Only shared images "
		            "have members.", kjson_str(img, "id"));
		return;
	}
	if (!enforce_member(r, "get_members", img))
		return;
	json_t *members = img_members_list(kjson_str(img, "id"), member_filter(r, img));
	if (!members) {
		kresp_error(r, 500, "%s", "");
		return;
	}
	if (!img_check(r, "get_member", img)) {
		json_decref(members);
		members = json_array();
	}
	kresp_json(r, 200, json_pack("{s:o,s:s}", "members", members, "schema",
	                             "/v2/schemas/members"));
}

static void add_member(kreq *r)
{
	if (!begin(r))
		return;
	json_t *body = get_body(r);
	if (!body)
		return;
	if (!json_is_object(body)) {
		kresp_error(r, 400, "Expected a member in the form: {\"member\": \"image_id\"}");
		return;
	}
	json_t *mv = json_object_get(body, "member");
	if (!mv) {
		kresp_error(r, 400, "Member to be added not specified");
		return;
	}
	if (!py_truthy(mv)) {
		kresp_error(r, 400, "Member can't be empty");
		return;
	}
	const char *member = json_string_value(mv);
	if (!member || u8len(member, strlen(member)) > 255) {
		kresp_error(r, 400, "Expected a member in the form: {\"member\": \"image_id\"}");
		return;
	}
	json_t *img = lookup(r, "Image %s not found.");
	if (!img)
		return;
	const char *id = kjson_str(img, "id");
	if (!shared(img)) {
		kresp_error(r, 403, "Not allowed to create members for image %s.", id);
		return;
	}
	if (!enforce_member(r, "add_member", img))
		return;
	long mq = quota("image_member_quota");
	int64_t cnt = img_member_count(id);
	if (cnt < 0) {
		kresp_error(r, 500, "%s", "");
		return;
	}
	if (mq >= 0 && cnt + 1 > mq) {
		kresp_error(r, 413, "Image member limit exceeded for image %s: The limit has been "
		            "exceeded on the number of allowed image members for this image. "
		            "Attempted: %lld, Maximum: %ld:", id, (long long)cnt + 1, mq);
		return;
	}
	if (has_4byte(member)) {
		kresp_error(r, 400, "Member can't contain 4 byte unicode characters.");
		return;
	}
	int rc = img_member_add(id, member);
	if (rc == 409) {
		kresp_error(r, 409, "Member %s is duplicated for image %s", member, id);
		return;
	}
	json_t *m = NULL;
	if (rc != 0 || img_member_get(id, member, &m) != 0) {
		kresp_error(r, 500, "%s", "");
		return;
	}
	kresp_json(r, 200, m);
}

static void show_member(kreq *r)
{
	if (!begin(r))
		return;
	json_t *img = lookup(r, "Image %s not found.");
	if (!img)
		return;
	if (!shared(img)) {
		kresp_error(r, 404, "Only shared images have members.");
		return;
	}
	json_t *m = lookup_member(r, img, kreq_param(r, "member_id"), true);
	if (m)
		kresp_json(r, 200, json_incref(m));
}

static void update_member(kreq *r)
{
	if (!begin(r))
		return;
	json_t *body = get_body(r);
	if (!body)
		return;
	if (!json_is_object(body)) {
		kresp_error(r, 400, "Expected a status in the form: {\"status\": \"status\"}");
		return;
	}
	json_t *sv = json_object_get(body, "status");
	if (!sv) {
		kresp_error(r, 400, "Status not specified");
		return;
	}
	json_t *img = lookup(r, "Image %s not found.");
	if (!img)
		return;
	const char *id = kjson_str(img, "id"), *member = kreq_param(r, "member_id");
	if (!shared(img)) {
		kresp_error(r, 403, "Not allowed to update members for image %s.", id);
		return;
	}
	if (!lookup_member(r, img, member, false))
		return;
	if (!enforce_member(r, "modify_member", img))
		return;
	const char *status = json_string_value(sv);
	if (!status || (strcmp(status, "pending") && strcmp(status, "accepted") &&
	                strcmp(status, "rejected"))) {
		kresp_error(r, 400, "Incorrect request: Status must be \"pending\", \"accepted\" "
		            "or \"rejected\".");
		return;
	}
	json_t *m = NULL;
	if (img_member_set(id, member, status) != 0 || img_member_get(id, member, &m) != 0) {
		kresp_error(r, 500, "%s", "");
		return;
	}
	kresp_json(r, 200, m);
}

static void delete_member(kreq *r)
{
	if (!begin(r))
		return;
	json_t *img = lookup(r, "Image %s not found.");
	if (!img)
		return;
	const char *id = kjson_str(img, "id"), *member = kreq_param(r, "member_id");
	if (!shared(img)) {
		kresp_error(r, 403, "Not allowed to delete members for image %s.", id);
		return;
	}
	if (!lookup_member(r, img, member, false))
		return;
	if (!enforce_member(r, "delete_member", img))
		return;
	int rc = img_member_delete(id, member);
	if (rc < 0) {
		kresp_error(r, 500, "%s", "");
		return;
	}
	if (rc > 0) {
		kresp_error(r, 404, "%s not found in the member list of the image %s.", member, id);
		return;
	}
	kresp_status(r, 204);
}

/* ------------------------------------------------------------------------ */
/* GET /v2/schemas/... */

static void answer_schema(kreq *r, const char *doc)
{
	if (!begin(r))
		return;
	if (r->body_len > 0) {
		kresp_error(r, 400, "A body is not expected with this request.");
		return;
	}
	kresp_raw(r, 200, "application/json", doc, strlen(doc));
}

static void get_schema_image(kreq *r)
{
	answer_schema(r, schema_image);
}

static void get_schema_images(kreq *r)
{
	answer_schema(r, schema_images);
}

static void get_schema_member(kreq *r)
{
	answer_schema(r, schema_member);
}

static void get_schema_members(kreq *r)
{
	answer_schema(r, schema_members);
}

#define MD_SCHEMA(name) \
	static void get_schema_md_##name(kreq *r) \
	{ \
		answer_schema(r, schema_md_##name); \
	}
MD_SCHEMA(namespace)
MD_SCHEMA(namespaces)
MD_SCHEMA(resource_type)
MD_SCHEMA(resource_types)
MD_SCHEMA(property)
MD_SCHEMA(properties)
MD_SCHEMA(object)
MD_SCHEMA(objects)
MD_SCHEMA(tag)
MD_SCHEMA(tags)

/* ------------------------------------------------------------------------ */

const kroute img_api_routes[] = {
	{ "GET", "/v2/images", list_images, 0 },
	{ "POST", "/v2/images", create_image, 0 },
	{ "GET", "/v2/images/{image_id}", show_image, 0 },
	{ "PATCH", "/v2/images/{image_id}", update_image, 0 },
	{ "DELETE", "/v2/images/{image_id}", delete_image, 0 },
	{ "POST", "/v2/images/{image_id}/actions/deactivate", deactivate_image, 0 },
	{ "POST", "/v2/images/{image_id}/actions/reactivate", reactivate_image, 0 },
	{ "PUT", "/v2/images/{image_id}/tags/{tag_value}", add_tag, 0 },
	{ "DELETE", "/v2/images/{image_id}/tags/{tag_value}", delete_tag, 0 },
	{ "GET", "/v2/images/{image_id}/members", list_members, 0 },
	{ "POST", "/v2/images/{image_id}/members", add_member, 0 },
	{ "GET", "/v2/images/{image_id}/members/{member_id}", show_member, 0 },
	{ "PUT", "/v2/images/{image_id}/members/{member_id}", update_member, 0 },
	{ "DELETE", "/v2/images/{image_id}/members/{member_id}", delete_member, 0 },
	{ "GET", "/v2/schemas/image", get_schema_image, 0 },
	{ "GET", "/v2/schemas/images", get_schema_images, 0 },
	{ "GET", "/v2/schemas/member", get_schema_member, 0 },
	{ "GET", "/v2/schemas/members", get_schema_members, 0 },
	{ "GET", "/v2/schemas/metadefs/namespace", get_schema_md_namespace, 0 },
	{ "GET", "/v2/schemas/metadefs/namespaces", get_schema_md_namespaces, 0 },
	{ "GET", "/v2/schemas/metadefs/resource_type", get_schema_md_resource_type, 0 },
	{ "GET", "/v2/schemas/metadefs/resource_types", get_schema_md_resource_types, 0 },
	{ "GET", "/v2/schemas/metadefs/property", get_schema_md_property, 0 },
	{ "GET", "/v2/schemas/metadefs/properties", get_schema_md_properties, 0 },
	{ "GET", "/v2/schemas/metadefs/object", get_schema_md_object, 0 },
	{ "GET", "/v2/schemas/metadefs/objects", get_schema_md_objects, 0 },
	{ "GET", "/v2/schemas/metadefs/tag", get_schema_md_tag, 0 },
	{ "GET", "/v2/schemas/metadefs/tags", get_schema_md_tags, 0 },
};
const size_t img_api_nroutes = ARRAY_SIZE(img_api_routes);
